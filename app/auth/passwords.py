"""The rules a new password must meet: every way one is set (a user created by an admin
or on the command line, an admin's change or reset, a user's change of their own).

- at least ``password_min_length`` characters (``MEMORIAL_PASSWORD_MIN_LENGTH``, 10 unless
  configured; the schemas' floor of 8 holds whatever it is set to);
- not the username, in any case;
- not one of the commonest passwords below, in any case.

Each refusal is a 422 naming the field and the rule; the pages and Chinese API clients
show it translated (``app.web.pages.admin`` registers the patterns).
"""

from app.config import Settings
from app.errors import InvalidInput

#: the minimum when no settings are at hand (``Settings.password_min_length``'s default)
DEFAULT_MIN_LENGTH: int = Settings.model_fields["password_min_length"].default

#: The commonest passwords of at least 8 characters in published leak lists, Chinese
#: sites' (CSDN, 163, QQ) among them: keyboard walks, digit runs, "I love you" numbers.
#: Shorter ones are refused by the length rule anyway. Compared lower-cased.
_COMMON = """
    00000000 000000000 0000000000 0123456789 11111111 111111111 1111111111 11223344
    112233445566 100200300 12341234 12344321 12345678 123456789 1234567890 12345678910
    123456123 123123123 123321123 123654789 1234qwer 123qweasd 123qweasdzxc 147258369
    159753456 741852963 87654321 987654321 9876543210 66666666 666666666 88888888 888888888
    99999999 1314520520 13145201314 5201314520 52013145201314 520520520 1314woaini
    aini1314 woaini1314 woaini520 woaiwojia woshishui wodemima nihao123 nihaonihao
    qq123456 qq5201314 1qaz2wsx 1qaz2wsx3edc 1qazxsw2 1qaz@wsx zaq12wsx zaq1xsw2 qazwsxedc
    qweasdzxc qwertyuiop qwertyui qwerty123 qwerty12345 qwer1234 q1w2e3r4 q1w2e3r4t5
    1q2w3e4r 1q2w3e4r5t 1q2w3e4r5t6y asdfghjkl asdfasdf asd123456 zxcvbnm1 zxcvbnm123
    abc12345 abc123456 abcd1234 abcd12345 abcdefgh a1234567 a12345678 a123456789 aa123456
    aa12345678 password password1 password12 password123 password1234 passw0rd p@ssw0rd
    p@ssword admin123 admin1234 admin12345 admin@123 administrator root1234 welcome1
    welcome123 letmein1 changeme changeme1 iloveyou iloveyou1 sunshine football baseball
    princess superman starwars dragon123 monkey123 trustno1 china123 beijing123
"""
COMMON_PASSWORDS: frozenset[str] = frozenset(_COMMON.split())


def check(password: str, *, username: str, settings: Settings | None, field: str) -> None:
    """``InvalidInput`` (422 at ``body.<field>``) naming the rule ``password`` breaks."""
    min_length = settings.password_min_length if settings is not None else DEFAULT_MIN_LENGTH
    if len(password) < min_length:
        raise InvalidInput(
            ("body", field),
            f"The password is too short: it needs at least {min_length} characters",
        )
    folded = password.strip().casefold()
    if folded == username.strip().casefold():
        raise InvalidInput(("body", field), "The password must not be the username")
    if folded in COMMON_PASSWORDS:
        raise InvalidInput(
            ("body", field),
            "The password is one of the most common passwords; choose one harder to guess",
        )
