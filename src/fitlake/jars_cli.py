"""``fitlake jars``: resolve the JVM jars into the project-local cache."""

from fitlake import jars


def add_arguments(parser) -> None:
    parser.add_argument("groups", nargs="*", metavar="GROUP", help=f"any of {sorted(jars.JAR_GROUPS)} (default: all)")


def main(args) -> int:
    return jars.main(list(args.groups))
