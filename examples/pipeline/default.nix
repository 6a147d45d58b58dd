# The provenix pipeline example: three "upstream" packages whose release
# tarballs enter the build only through fixed-output derivations (Nix's
# builtin:fetchurl on file:// URLs), a security patch from this repository, and
# busybox-only builds in the sandbox. README.md has the whole story.
#
# The result is the app, greeter; its parts are attributes of it:
#
#   (default)   greeter-1.0          bin/greeter, uses both packages below
#   libgreet    libgreet-1.2         outputs out (lib/libgreet.sh) and doc
#   wordstat    wordstat-0.4         bin/wordstat, patched for CVE-2024-0001
#   sources     { libgreet wordstat greeter }   the three tarball FODs
#
# Build (as root, in a throwaway store; TARBALLS is an absolute path):
#
#   nix-build --store ROOT examples/pipeline --argstr tarballs "$TARBALLS" \
#     --option sandbox true --option sandbox-paths /bin/sh=/bin/busybox \
#     --option extra-sandbox-paths "$TARBALLS" \
#     --option substituters '' --option build-users-group ''
#
# Why extra-sandbox-paths: builtin:fetchurl runs inside the build sandbox (a
# chroot holding only the store paths the build needs and the sandbox paths),
# and libcurl opens file:// URLs in there. Without the tarball directory
# bound into the sandbox the fetch fails with
#   error: unable to download 'file:///.../greeter-1.0.tar.gz':
#          Couldn't read a file:// file (37)
# With a store under another root (--store ROOT) Nix 2.8 always builds in the
# chroot, even with `--option sandbox false`, so the option is needed then
# too. It is only needed while the tarballs are not yet in the store: an
# offline rebuild from imported sources never reads the directory.
# Careful: sandbox paths are bound writable. Running as root with
# build-users-group '' (builds as root mapped into a user namespace), a build
# can write into the bound directory, and even into its input store paths;
# with `--option build-users-group nixbld` (Debian's nix-bin creates the
# nixbld users) it can do neither, and the outputs are the same.
#
# Arguments:
#   tarballs         directory holding the release tarballs: an absolute path
#                    (string or path value; a path is not copied to the store).
#                    It is part of the FOD URLs, so it changes the .drv paths
#                    of the three fetches but no output path: a FOD's output
#                    path depends on its name and hash only, and the .drv
#                    hashes that input-addressed outputs are computed from
#                    replace each FOD by its fixed hash.
#   bump             when true, the next release: wordstat 0.5 (its own
#                    tarball, wordstat-0.5.tar.gz, which fixes CVE-2024-0001
#                    upstream, so the backported patch is dropped). What
#                    `provenix diff` shows between the two, and what a review
#                    of the bump covers.
#   nonReproducible  when true, greeter writes 16 random bytes into
#                    share/greeter/build-id, so two builds of the same .drv
#                    differ in that one file. Off by default: then every
#                    output is bit-for-bit reproducible.
{ tarballs ? toString ./tarballs
, bump ? false
, nonReproducible ? false
, system ? builtins.currentSystem
}:
let
  dir = toString tarballs;

  # A release tarball, fetched by Nix itself (no builder program): the only
  # door through which upstream bytes enter these builds. The sha256 values are
  # those `sha256sum tarballs/*` prints (upstream/make-tarballs.sh remakes
  # the tarballs). `url` is what builtin:fetchurl reads; `urls` is what
  # <nix/fetchurl.nix> also sets and what tools (nix-prefetch-url, provenix)
  # look for.
  fetchRelease = name: sha256:
    if builtins.substring 0 1 dir != "/"
    then throw "examples/pipeline: tarballs must be an absolute path, got '${dir}'"
    else derivation rec {
      inherit name;
      system = "builtin";
      builder = "builtin:fetchurl";
      url = "file://${dir}/${name}";
      urls = [ url ];
      outputHashMode = "flat";
      outputHashAlgo = "sha256";
      outputHash = sha256;
    };

  sources = {
    libgreet = fetchRelease "libgreet-1.2.tar.gz"
      "bcf2ca2131be3e15b972c5c07fac396bc91990569057ea1934a3b4a44a0c5b1a";
    wordstat = if bump
      then fetchRelease "wordstat-0.5.tar.gz"
        "26801d5d0e250c49ce6eee2d7146e783c8416fa892b599adc3ac4e1715c33e7f"
      else fetchRelease "wordstat-0.4.tar.gz"
        "8410b441a7bf2ea926445e5de0460b68773d6a85799c87c453f1ce29c255a2ea";
    greeter = fetchRelease "greeter-1.0.tar.gz"
      "d11239b83971edca975d066302f13bbc2f82cf9b535af5f1829600922a84b385";
  };

  # A package built by busybox alone: /bin/sh is busybox (the sandbox binds
  # it there) and every command below (tar, patch, sed, awk, ...) is one of
  # its applets. The tarball unpacks into NAME-VERSION/, as upstream made it.
  mkPackage = { pname, version, src, script, ... }@attrs:
    derivation (removeAttrs attrs [ "script" ] // {
      name = "${pname}-${version}";
      inherit system;
      builder = "/bin/sh";
      args = [ "-e" "-c" ''
        tar -xzf "$src"
        cd "$name"
        for p in $patches; do
          echo "applying $p"
          patch -p1 < "$p"
        done
        ${script}
      '' ];
    });

  libgreet = mkPackage {
    pname = "libgreet";
    version = "1.2";
    src = sources.libgreet;
    outputs = [ "out" "doc" ];
    script = ''
      sh ./install.sh "$out" "$doc/share/doc/libgreet"
    '';
  };

  wordstat = mkPackage {
    pname = "wordstat";
    version = if bump then "0.5" else "0.4";
    src = sources.wordstat;
    # A path value: copied into the store, it becomes an inputSrc of the .drv.
    # 0.5 has the fix upstream.
    patches = if bump then [ ] else [ ./patches/fix-CVE-2024-0001-overflow.patch ];
    script = ''
      sh ./install.sh "$out"
      # check the fix: sane widths work, huge ones are refused
      [ "$(echo 'a b' | "$out/bin/wordstat" --width 2)" = " 1 lines  2 words  4 chars" ]
      if "$out/bin/wordstat" --width 99999999 < /dev/null 2>/dev/null; then
        echo "CVE-2024-0001 is not fixed" >&2
        exit 1
      fi
    '';
  };

  greeter = mkPackage {
    pname = "greeter";
    version = "1.0";
    src = sources.greeter;
    libgreet = libgreet;
    wordstat = wordstat;
    inherit nonReproducible;
    script = ''
      LIBGREET=$libgreet WORDSTAT=$wordstat sh ./install.sh "$out"
      if [ "$nonReproducible" = 1 ]; then
        # deliberately non-reproducible: different bytes on every build
        { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; echo; } > "$out/share/greeter/build-id"
      else
        sha256sum < "$src" | cut -c1-32 > "$out/share/greeter/build-id"
      fi
      "$out/bin/greeter" provenix > "$out/share/greeter/selftest.txt"
      grep -q '^Hello, provenix!$' "$out/share/greeter/selftest.txt"
    '';
  };
in
greeter // { inherit libgreet wordstat sources; }
