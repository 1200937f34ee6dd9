"""`make breaking` compares protos/ with the recorded contract (protos/baseline.binpb, ADR 0019):
these tests check that the comparison has teeth and that the record covers every contract file."""
import shutil
import subprocess
from pathlib import Path

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / ".venv" / "bin" / "buf"


def breaking(protos: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BUF), "breaking", "--against", str(ROOT / "protos" / "baseline.binpb")], cwd=protos,
                          capture_output=True, text=True, timeout=120)


def test_the_baseline_records_every_contract_file():
    recorded = descriptor_pb2.FileDescriptorSet.FromString((ROOT / "protos" / "baseline.binpb").read_bytes())
    names = {f.name for f in recorded.file}
    ours = {str(p.relative_to(ROOT / "protos")) for p in (ROOT / "protos").rglob("*.proto")}
    assert ours <= names, f"not in the baseline (run `make contract-baseline`): {sorted(ours - names)}"


def test_the_current_contract_keeps_the_baseline():
    result = breaking(ROOT / "protos")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_removed_field_and_a_renumbered_one_break_the_build(tmp_path):
    protos = tmp_path / "protos"
    shutil.copytree(ROOT / "protos", protos)
    identity = protos / "concilia" / "identity" / "v1" / "identity.proto"
    text = identity.read_text()
    assert "  string locale = 9;\n" in text and "  string name = 3;\n" in text
    identity.write_text(text.replace("  string locale = 9;\n", "", 1).replace("  string name = 3;\n",
                                                                               "  string name = 30;\n", 1))
    result = breaking(protos)
    assert result.returncode != 0
    assert '"locale"' in result.stdout and '"name"' in result.stdout
