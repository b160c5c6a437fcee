"""What a consumer does with a message and with a log of another identity or
epoch (common/log_identity.py)."""
from common.log_identity import (
    EVERYTHING,
    NEW_EPOCH,
    OLD_EPOCH,
    OTHER_LOG,
    UNMARKED,
    UNVERIFIED,
    Identity,
    judge,
    must_rebuild,
    shared_prefix,
)

LOG = Identity("log-a", 1_800_000_000, ((1, 0), (1_700_000_000, 500), (1_800_000_000, 300)))


def test_a_message_is_applied_only_at_the_log_and_epoch_followed():
    assert judge(LOG, "log-a", LOG.epoch) is None
    assert judge(LOG, "log-b", LOG.epoch) == OTHER_LOG
    assert judge(LOG, "log-a", 1) == OLD_EPOCH
    assert judge(LOG, "log-a", LOG.epoch + 1) == NEW_EPOCH
    assert judge(LOG, None, None) == UNMARKED
    assert judge(LOG, "log-a", True) == UNMARKED
    assert judge(None, "log-a", 1) == UNVERIFIED


def test_the_shared_prefix_is_the_lowest_fork_since_the_epoch_followed():
    assert shared_prefix(LOG, LOG.epoch) == EVERYTHING
    assert shared_prefix(LOG, 1_700_000_000) == 300
    assert shared_prefix(LOG, 1) == 300
    assert shared_prefix(LOG, 1_750_000_000) is None  # an epoch of a discarded timeline


def test_a_consumer_rebuilds_only_when_its_state_is_not_shared():
    assert not must_rebuild(Identity("log-a", 1), 300, LOG, 900)
    assert must_rebuild(Identity("log-a", 1), 301, LOG, 900)
    assert must_rebuild(Identity("log-b", LOG.epoch), 1, LOG, 900)
    assert not must_rebuild(Identity("log-b", 1), 0, LOG, 900)  # nothing applied: nothing to empty
    assert must_rebuild(Identity("log-a", 1_750_000_000), 10, LOG, 900)
    assert not must_rebuild(None, 900, LOG, 900)  # a roster from before identities, within the log
    assert must_rebuild(None, 901, LOG, 900)


def test_the_identity_travels_as_a_dict():
    assert Identity.from_dict(LOG.as_dict()) == LOG
    assert Identity.from_dict(None) is None and Identity.from_dict({}) is None
