# Reads the board registry (boards.txt beside this file). Source it, then:
#   board_field BOARD COLUMN   prints that board's value (`-` for none); fails for an unknown board
#   board_names [COLUMN VALUE] prints every board's name (those whose COLUMN contains VALUE)
registry=$(dirname "${BASH_SOURCE[0]}")/boards.txt

board_field() {
  awk -v board="$1" -v column="$2" '
    /^#/ || NF == 0 { next }
    !header { for (i = 1; i <= NF; i++) index_of[$i] = i; header = 1; next }
    $1 == board { if (!(column in index_of)) exit 3; print $index_of[column]; found = 1; exit }
    END { if (!found) exit 2 }' "$registry" || {
    echo "unknown board '$1' or column '$2'; boards: $(board_names | tr '\n' ' ')(firmware/boards.txt)" >&2
    return 2
  }
}

board_names() {
  awk -v column="${1:-board}" -v value="${2:-}" '
    /^#/ || NF == 0 { next }
    !header { for (i = 1; i <= NF; i++) index_of[$i] = i; header = 1; next }
    index("," $index_of[column] ",", "," value ",") || value == "" { print $1 }' "$registry"
}
