#!/bin/sh
# Turn a file into a C byte array named asset_<name> (with asset_len_<name>),
# the form Kore's single-binary build expects for its embedded configuration.
set -eu
name=$1
file=$2
printf '#include <sys/types.h>\n'
printf 'u_int8_t asset_%s[] = {\n' "$name"
od -An -v -tx1 "$file" | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g' -e 's/^/\t/'
printf '0x00 };\n'
printf 'u_int32_t asset_len_%s = %s;\n' "$name" "$(wc -c < "$file" | tr -d ' ')"
