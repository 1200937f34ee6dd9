"""Valid national IDs for tests, computed with the real check-digit algorithms (python-stdnum)."""
import itertools
import random

from stdnum.ar import cuit
from stdnum.br import cnpj, cpf

_counter = itertools.count(random.randrange(10_000, 90_000) * 1000)


def new_cpf() -> str:
    base = f"{next(_counter) % 10**9:09d}"
    return base + cpf._calc_check_digits(base)  # stdnum keeps it private; same algorithm as is_valid


def new_cnpj() -> str:
    base = f"{next(_counter) % 10**8:08d}0001"
    return base + cnpj.calc_check_digits(base)


def new_cuit(prefix: str = "30") -> str:
    base = f"{prefix}{next(_counter) % 10**8:08d}"
    return base + cuit.calc_check_digit(base)


def with_wrong_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)
