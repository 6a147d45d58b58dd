{ lib }: { "runs" = [ ]; name = "sarif"; bomFormat = null; }
