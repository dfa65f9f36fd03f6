"""The receiver's bounded memory of deliveries."""

from gitops_operator.deliveries import DeliveryMemory


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_delivery_is_claimed_once_within_the_ttl_and_again_after() -> None:
    clock = Clock()
    memory = DeliveryMemory(ttl=60, clock=clock)
    assert memory.claim("github|None|d1")
    assert not memory.claim("github|None|d1")
    clock.now += 59
    assert not memory.claim("github|None|d1")
    clock.now += 2
    assert memory.claim("github|None|d1"), "forgotten after the ttl"


def test_the_memory_is_bounded_and_forgets_the_oldest_first() -> None:
    memory = DeliveryMemory(limit=3, clock=Clock())
    for delivery in ("a", "b", "c", "d"):
        assert memory.claim(delivery)
    assert len(memory) == 3
    assert memory.claim("a"), "the oldest was forgotten"
    assert not memory.claim("d")


def test_expired_deliveries_are_dropped_when_new_ones_arrive() -> None:
    clock = Clock()
    memory = DeliveryMemory(ttl=10, clock=clock)
    for delivery in range(100):
        memory.claim(str(delivery))
    clock.now += 11
    memory.claim("new")
    assert len(memory) == 1


def test_a_released_delivery_may_be_claimed_again() -> None:
    memory = DeliveryMemory(clock=Clock())
    assert memory.claim("d")
    memory.release("d")
    assert memory.claim("d")
