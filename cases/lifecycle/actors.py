"""Who acts on a case: a staff member, the system (jobs, sweeps), or a member of the public through
the portal. The label is what the evidence trail records as `actor`."""

from dataclasses import dataclass

from cases.models import User
from workflows import SYSTEM


@dataclass(frozen=True)
class Actor:
    label: str
    roles: frozenset[str]
    user: User | None = None

    @classmethod
    def staff(cls, user: User) -> "Actor":
        return cls(label=f"user:{user.id}", roles=frozenset({user.role}), user=user)

    @classmethod
    def system(cls, what: str) -> "Actor":
        """The system acting for `what` (a job or sweep name, or the public portal)."""
        return cls(label=f"system:{what}", roles=frozenset({SYSTEM}))

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user else None
