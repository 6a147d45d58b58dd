#!/usr/bin/env python3
"""Makes a large, real-shaped release/VCS pair for `bench/equiv.sh`.

OUT/vcs/proj-1.0/   the "tag": N source files in a tree of D directories (text of log-uniform
                    size, 100 B to 30 KiB; a few binary test files of 1 to 4 MiB), every
                    twentieth executable, .gitignore and CI files;
OUT/rel/proj-1.0/   the "release": the same tree without .gitignore/CI, plus make dist output
                    (configure, Makefile.in per directory, aclocal.m4, po/*.gmo) and one m4 file
                    that is in no known copy (the xz case).
Deterministic (seeded); content is base64 of random bytes, so it compresses like source (~75%).
"""
import base64, os, random, sys

out, n, target_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(17)
vcs = os.path.join(out, "vcs", "proj-1.0")
rel = os.path.join(out, "rel", "proj-1.0")
dirs = [""] + [f"src/mod{i // 20}/sub{i % 20}" for i in range(n // 25)]
budget = target_mb << 20
written = 0

def put(root, path, data, mode=0o644):
    p = os.path.join(root, path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    os.chmod(p, mode)

def text(size):
    raw = rng.randbytes(size * 3 // 4 + 3)
    b = base64.b64encode(raw)[:size]
    return b"\n".join(b[i:i + 76] for i in range(0, len(b), 76)) + b"\n"

for i in range(n):
    d = dirs[i % len(dirs)]
    if i % 2000 == 0:
        data = rng.randbytes(rng.randint(1, 4) << 20)
        path = os.path.join("tests", "files", f"blob{i}.bin")
    else:
        size = int(100 * (300 ** rng.random()))
        data = text(size)
        path = os.path.join(d, f"file{i}.c")
    mode = 0o755 if i % 20 == 0 else 0o644
    for root in (vcs, rel):
        put(root, path, data, mode)
    written += len(data)
# Top up to the byte target with larger text files (documentation, test vectors).
k = 0
while written < budget:
    data = text(rng.randint(64 << 10, 2 << 20))
    for root in (vcs, rel):
        put(root, os.path.join("doc", f"vectors{k}.txt"), data)
    written += len(data)
    k += 1
put(vcs, ".gitignore", b"*.o\n")
put(vcs, ".github/workflows/ci.yml", b"on: push\n")
put(rel, "configure", text(300 << 10), 0o755)
put(rel, "aclocal.m4", text(40 << 10))
put(rel, "po/de.gmo", rng.randbytes(20 << 10))
for d in dirs[:300]:
    put(rel, os.path.join(d, "Makefile.in"), text(4 << 10))
put(rel, "m4/build-to-host.m4", b"# build-to-host.m4 serial 30\nAC_DEFUN([gl_BUILD_TO_HOST], [eval $gl_x])\n")
print(f"{n} files, {written >> 20} MiB per side", file=sys.stderr)
