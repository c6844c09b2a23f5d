"""Prints N words drawn from 30 common English words with seed SEED: a text for perplexity
and importance-matrix tests and benchmarks (any text works on random-weight models; this
one is small, varied and reproducible).

    /usr/bin/python3 random_words.py N SEED
"""
import random
import sys

WORDS = ("the of and to in is was for on that with as by at from his her it an were are which this be or has "
         "had not but first").split()

n, seed = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
print(" ".join(rng.choice(WORDS) for _ in range(n)))
