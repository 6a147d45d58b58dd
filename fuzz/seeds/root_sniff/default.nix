{ pkgs ? import <nixpkgs> {} }:
pkgs.stdenv.mkDerivation { pname = "café"; version = "1.0"; }
