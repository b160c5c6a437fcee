"""The identity of the declaration log as consumers see it: the log's id and
epoch (services/declarations/eventlog/identity.py keeps them with the log),
in the headers of every message the relay publishes and in every
`events_after` answer. Shared by the declarations service and its consumers,
which do not import one another."""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Identity:
    log_id: str
    epoch: int
    forks: tuple = field(default=())  # ((epoch, fork_position), ...) in epoch order

    def as_dict(self):
        """The form of `events_after` answers and GET /api/events."""
        return {"log_id": self.log_id, "epoch": self.epoch, "forks": [list(f) for f in self.forks]}

    @classmethod
    def from_dict(cls, value):
        if not isinstance(value, dict) or not value.get("log_id"):
            return None
        return cls(str(value["log_id"]), int(value["epoch"]),
                   tuple((int(e), int(p)) for e, p in value.get("forks") or ()))


def shared_prefix(identity, epoch):
    """The last position the log's current epoch shares with `epoch` of the
    same log (EVERYTHING for the current epoch itself), or None when
    `epoch` is not in its history: then nothing is known to be shared."""
    if epoch == identity.epoch:
        return EVERYTHING
    if epoch not in dict(identity.forks):
        return None
    return min(fork for e, fork in identity.forks if e > epoch)


EVERYTHING = 2**63 - 1


# Why a consumer drops a message (the `reason` label of
# consumer_messages_dropped_total).
UNMARKED = "unmarked"  # no identity headers: published by an earlier release, or not by the relay
UNVERIFIED = "unverified"  # the consumer does not know yet which log it follows
OTHER_LOG = "other_log"
OLD_EPOCH = "old_epoch"
NEW_EPOCH = "new_epoch"  # the log moved on: the consumer adopts it from the log first


def judge(followed, log_id, epoch):
    """None when a consumer following `followed` (an Identity, or None when
    it does not know yet) may apply a message marked `log_id`, `epoch`;
    otherwise why it drops it (and catches up from the log instead)."""
    if not log_id or isinstance(epoch, bool) or not isinstance(epoch, int):
        return UNMARKED
    if followed is None:
        return UNVERIFIED
    if log_id != followed.log_id:
        return OTHER_LOG
    if epoch < followed.epoch:
        return OLD_EPOCH
    if epoch > followed.epoch:
        return NEW_EPOCH
    return None


def must_rebuild(followed, checkpoint, log, head):
    """Whether a consumer at `checkpoint`, following `followed` (an Identity
    or None), must empty its projection to follow `log` (the log's current
    Identity, whose last position is `head`): it followed another log, or
    an epoch whose history the log does not share up to the checkpoint. A
    consumer that followed nothing yet (state from before log identities)
    keeps its state unless it is ahead of the log."""
    if checkpoint <= 0:
        return False
    if followed is None:
        return checkpoint > head
    if followed.log_id != log.log_id:
        return True
    shared = shared_prefix(log, followed.epoch)
    return shared is None or checkpoint > shared
