"""Generates Python code for every .proto under protos/ into lib/ (package concilia.<svc>.v1).

    gen_protos.py --out lib     regenerate the committed code
    gen_protos.py --check       fail (exit 1) when the committed code differs from a fresh run
"""
import argparse
import filecmp
import pathlib
import sys
import tempfile

import grpc_tools
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
WELL_KNOWN = pathlib.Path(grpc_tools.__file__).parent / "_proto"


def generate(out: pathlib.Path) -> list[pathlib.Path]:
    files = sorted(PROTOS.rglob("*.proto"))
    args = ["protoc", f"-I{PROTOS}", f"-I{WELL_KNOWN}", f"--python_out={out}",
            f"--pyi_out={out}", f"--grpc_python_out={out}"] + [str(f) for f in files]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generated = []
    for proto in files:
        relative = proto.parent.relative_to(PROTOS)
        package_dir = out / relative
        # Make every level a regular package so setuptools finds it.
        for level in [relative, *relative.parents][:-1]:
            init = out / level / "__init__.py"
            if not init.exists():
                init.write_text("")
        stem = proto.stem
        generated += [package_dir / f"{stem}_pb2.py", package_dir / f"{stem}_pb2.pyi",
                      package_dir / f"{stem}_pb2_grpc.py"]
    return [g.relative_to(out) for g in generated]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "lib"), help="output root (default: lib)")
    parser.add_argument("--check", action="store_true", help="compare a fresh run with the committed code")
    options = parser.parse_args()
    if not options.check:
        generated = generate(pathlib.Path(options.out))
        print(f"generated {len(generated)} files")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generated = generate(pathlib.Path(tmp))
        stale = [str(g) for g in generated
                 if not (ROOT / "lib" / g).exists() or not filecmp.cmp(pathlib.Path(tmp) / g, ROOT / "lib" / g, shallow=False)]
    if stale:
        print("generated code is stale; run `make proto`:\n  " + "\n  ".join(stale), file=sys.stderr)
        return 1
    print(f"generated code up to date ({len(generated)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
