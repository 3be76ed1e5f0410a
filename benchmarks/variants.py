"""`--try 'NAME: OPTIONS'`: a variant named on the command line, beside a benchmark's own table
of `hunt-tf train` option lists (hunt_real.py, hunt_families.py).

    add_try_option(parser)
    args = parser.parse_args()
    add_tried(args, VARIANTS)   # VARIANTS[NAME] = shlex.split(OPTIONS); NAME joins args.variants
"""

from __future__ import annotations

import shlex


def add_try_option(parser):
    parser.add_argument("--try", dest="extra", action="append", default=[], metavar="'NAME: ARGS'",
                        help="another variant: a name, a colon, then hunt-tf train options (repeatable)")


def add_tried(args, variants: dict):
    for spec in args.extra:
        name, sep, options = spec.partition(":")
        if not sep or not name.strip():
            raise SystemExit(f"--try {spec!r}: expected 'NAME: hunt-tf train options'")
        if name.strip() in variants:
            raise SystemExit(f"--try {name.strip()!r}: that name is taken by a built-in variant; choose another")
        variants[name.strip()] = shlex.split(options)
        args.variants.append(name.strip())
