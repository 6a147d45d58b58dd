# libgreet 1.2: source this file from a POSIX shell.
LIBGREET_VERSION=1.2

greet() {
  printf 'Hello, %s!\n' "${1:-world}"
}

banner() {
  line=$(printf '%s' "$1" | sed 's/./-/g')
  printf '%s\n%s\n%s\n' "$line" "$1" "$line"
}
