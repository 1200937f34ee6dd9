"""Country packs: loading, validation errors with file and line, deadlines, IDs."""
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from concilia.chassis.country import DEFAULT_PACKS_DIR, PackError, load_pack
from concilia.chassis.errors import InvalidArgument


@pytest.mark.parametrize("code", ["BR", "AR", "UY"])
def test_shipped_packs_load(code):
    pack = load_pack(code)
    assert pack.code == code
    assert pack.windows.company_answer_days == 10
    assert pack.taxonomy_file.exists()


def test_brazil_counts_calendar_days_to_the_end_of_the_local_day():
    pack = load_pack("BR")
    filed = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)  # 12:00 in São Paulo
    deadline = pack.add_days(filed, 10)
    assert deadline == datetime(2026, 3, 13, 3, 0, tzinfo=timezone.utc)  # 2026-03-13 00:00 -03:00


def test_argentina_counts_business_days_and_skips_holidays():
    pack = load_pack("AR")
    # Friday 2026-12-04 + 3 business days: Mon 7, (Tue 8 is a holiday), Wed 9, Thu 10.
    deadline = pack.add_days(datetime(2026, 12, 4, 15, 0, tzinfo=timezone.utc), 3)
    assert deadline.astimezone(pack.zone).date().isoformat() == "2026-12-11"


def test_national_ids_follow_the_pack():
    br, ar = load_pack("BR"), load_pack("AR")
    assert br.person_id.normalise("national_id", "529.982.247-25") == "52998224725"
    with pytest.raises(InvalidArgument) as error:
        br.person_id.normalise("national_id", "529.982.247-26")
    assert error.value.field == "national_id"
    assert br.company_id.normalise("tax_id", "11.222.333/0001-81") == "11222333000181"
    assert ar.person_id.normalise("national_id", "20-12345678-6") == "20123456786"  # CUIL
    assert ar.person_id.normalise("national_id", "12.345.678") == "12345678"  # DNI
    with pytest.raises(InvalidArgument):
        ar.company_id.normalise("tax_id", "20-12345678-5")


def copy_pack(tmp_path: Path, code: str = "br") -> Path:
    shutil.copytree(DEFAULT_PACKS_DIR / code, tmp_path / code)
    return tmp_path / code / "pack.yaml"


def test_a_bad_value_is_reported_with_file_and_line(tmp_path):
    pack_file = copy_pack(tmp_path)
    lines = pack_file.read_text().splitlines()
    number = next(i for i, line in enumerate(lines) if "day_count:" in line)
    lines[number] = "  day_count: fortnightly"
    pack_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(PackError) as error:
        load_pack("BR", tmp_path)
    assert f"{pack_file}:{number + 1}:" in str(error.value)
    assert "day_count" in str(error.value)


def test_unknown_keys_and_schemes_are_errors(tmp_path):
    pack_file = copy_pack(tmp_path)
    pack_file.write_text(pack_file.read_text() + "colour: green\n")
    with pytest.raises(PackError, match="unknown key 'colour'"):
        load_pack("BR", tmp_path)
    pack_file = copy_pack(tmp_path / "second")
    pack_file.write_text(pack_file.read_text().replace("schemes: [br.cpf]", "schemes: [br.passport]"))
    with pytest.raises(PackError, match="unknown ID scheme"):
        load_pack("BR", tmp_path / "second")


def test_a_missing_pack_lists_the_available_ones(tmp_path):
    copy_pack(tmp_path)
    with pytest.raises(PackError, match="available: BR"):
        load_pack("CL", tmp_path)


def test_retention_periods_are_whole_days_and_optional(tmp_path):
    assert load_pack("AR").retention.closed_complaint_days == 1095
    pack_file = copy_pack(tmp_path)
    text = pack_file.read_text()
    assert "  closed_complaint_days: 1825" in text
    for bad in ("0", "five", "true", "1.5"):
        pack_file.write_text(text.replace("  closed_complaint_days: 1825", f"  closed_complaint_days: {bad}"))
        with pytest.raises(PackError, match="retention.closed_complaint_days must be a whole number of days") as error:
            load_pack("BR", tmp_path)
        assert f"{pack_file}:" in str(error.value)
    pack_file.write_text(text.replace("  notification_days: 365", "  inbox_days: 365"))
    with pytest.raises(PackError, match="unknown key 'retention.inbox_days'"):
        load_pack("BR", tmp_path)
    # Left out: kept until erased on request.
    start = text.index("\nretention:")
    end = text.index("\nlimits:")
    pack_file.write_text(text[:start] + text[end:])
    retention = load_pack("BR", tmp_path).retention
    assert (retention.closed_complaint_days, retention.access_log_days, retention.notification_days) == (None,) * 3
