# A small Nix project built with busybox in the sandbox: one fixed-output
# source, a package with two outputs built from it, and an app on top.
#
#   nix-build --store ROOT examples/hello
{ system ? builtins.currentSystem }:
let
  sh = "/bin/sh";
  # The only door through which bytes enter: a fixed-output derivation. Its
  # content is produced locally so the example needs no network.
  greeting-src = derivation {
    name = "greeting-1.0.txt";
    inherit system;
    builder = sh;
    args = [ "-c" "echo 'Hello, provenix!' > $out" ];
    urls = [ "https://example.org/greeting-1.0.txt" ];
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = "sha256-5wGthApqW+gWUV/tjELUx1Wah9Y4cVp3GcVgopo3XdU=";
  };
  hello = derivation {
    name = "hello-1.0";
    pname = "hello";
    version = "1.0";
    inherit system;
    builder = sh;
    outputs = [ "out" "doc" ];
    src = greeting-src;
    args = [ "-e" "-c" ''
      mkdir -p $out/bin $doc/share/doc/hello
      printf '#!/bin/sh\ncat %s\n' "$src" > $out/bin/hello
      chmod +x $out/bin/hello
      echo "hello prints a greeting" > $doc/share/doc/hello/README
    '' ];
  };
  app = derivation {
    name = "app-0.1";
    inherit system;
    builder = sh;
    hello = hello;
    args = [ "-e" "-c" ''
      mkdir -p $out/bin
      ln -s $hello/bin/hello $out/bin/app
    '' ];
  };
in
app
