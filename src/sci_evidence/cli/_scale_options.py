"""Help texts of the options that run `meta`'s long computations at scale (`--gosh-all`,
`--seed`, `--scheduler`), kept here so that the `meta` command module stays short."""

GOSH_ALL = (
    "With --gosh and k > 24: fit all 2^k - 1 subsets (k = 30: 1.07e9) instead of 1,000,000 "
    "random ones, kept as binned counts (the plot is drawn from the bins); without moderators."
)
SEED = (
    "Seed (an integer >= 0) of the random permutations (--permutations) and of the random GOSH "
    "subsets (k > 24); default: drawn, and reported in the output."
)
SCHEDULER = (
    "Run the --gosh fits and the --permutations refits on the Dask cluster at this scheduler "
    "address (tcp://HOST:8786; needs the \\[dask] extra; same results as a local run)."
)
