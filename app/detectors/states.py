"""The scorer's state model: the levels a signal switches between (a machine idle at 0 A, running at 12 A).

One slowly adapting level sits between such states, and judges every start and stop as a spike. This
model keeps a few centres (states), each with its own scale (at least ``mix`` times the scale of all
its residuals), and judges a reading by the nearest one: a switch between known states is no
surprise, while a change inside a state (its level shifts, its noise grows, it drifts) leaves a
residual, as in the level model.

A state is born from a novel run: more than ``run`` readings in a row beyond ``gap`` scales of every
state (a shorter excursion is a spike), whose mean is more than ``gap`` times its own spread from
the nearest state (a noisy spell is no level). With ``most`` states the nearest one moves there.
Centres and scales adapt as the level model's (clipped steps); a novel reading does not move them.

The model is fit to judge only while the signal's states persist and recur, and it switches in a
step: the state a reading is in and the one the signal came from have each been left at least
twice, after visits of ``dwell`` readings on average, and a switch passes at most one novel reading
between the two states on average (a ramp, as a daily pattern's, is for a profile to predict).
Noise or bursts split into "states" do not pass. O(1) state.
"""

from __future__ import annotations

MAD_PER_SD = 0.8  # mean absolute deviation of a normal variable, per standard deviation


class StateModel:
    """Residual of each reading from its nearest state, in the signal's units, and that state's scale."""

    __slots__ = ("gap", "most", "run", "dwell", "clip", "mix", "long_rate", "visit_rate", "centres", "scales",
                 "visits", "left", "came", "last", "stay", "error", "mad", "novel", "settled", "between", "transit")

    def __init__(self, level: float, scale: float, mad: float, *, gap: float, most: int, run: int, dwell: float,
                 clip: float, mix: float, long_rate: float, visit_rate: float):
        self.gap, self.most, self.run, self.dwell = gap, most, run, dwell
        self.clip, self.mix, self.long_rate, self.visit_rate = clip, mix, long_rate, visit_rate
        self.centres, self.scales = [level], [scale]
        self.visits, self.left = [0.0], [0]  # per state: mean visit (readings) and visits that ended
        self.came, self.last, self.stay = 0, 0, 0  # the state before the last switch, the current one, readings in it
        self.error, self.mad = scale, mad  # all states: clipped scale of the residual, long-run mean absolute residual
        self.novel = (0, 0.0, 0.0)  # the novel run in progress: readings, sum, sum of squares
        self.settled, self.between = 0, 0  # the state of the last reading that was not novel, novel readings since
        self.transit = 0.0  # novel readings between the states of a switch, on average (an EWMA per switch)

    @property
    def fit(self) -> bool:
        """Whether the states persist, recur and switch in a step (see the module docstring)."""
        came, last = self.came, self.last
        return (self.transit <= 1.0 and came != last and self.left[came] > 1 and self.left[last] > 1
                and self.visits[came] >= self.dwell and self.visits[last] >= self.dwell)

    def update(self, x: float, rate: float, floor: float) -> tuple[float, float]:
        """Scale and residual of reading ``x`` (from its nearest state, before updating); ``rate``: the
        adaptation of centres and scales; ``floor``: the smallest scale."""
        centres = self.centres
        j, dist = 0, abs(x - centres[0])
        for i in range(1, len(centres)):
            di = abs(x - centres[i])
            if di < dist:
                j, dist = i, di
        if j != self.last:  # a visit ends: its length enters the state's mean visit
            last = self.last
            left = self.left[last] + 1
            self.left[last] = left
            weight = 1.0 / left if left * self.visit_rate < 1.0 else self.visit_rate  # a running mean, then an EWMA
            self.visits[last] += weight * (self.stay - self.visits[last])
            self.came, self.last, self.stay = last, j, 0
        self.stay += 1
        mix_error = self.mix * self.error
        s = self.scales[j]
        s = s if s > mix_error else mix_error
        r = x - centres[j]
        ar = r if r > 0 else -r
        self.mad += self.long_rate * (ar - self.mad)
        c = self.clip * self.error
        error = self.error + rate * ((ar if ar < c else c) - self.error)
        self.error = error if error > floor else floor
        if dist > self.gap * s:
            self.between += 1
            self._novel(x, j)
        else:
            if j != self.settled:  # a switch: the readings in transit between the two states
                self.transit += self.visit_rate * (self.between - self.transit)
                self.settled = j
            self.between = 0
            self.novel = (0, 0.0, 0.0)
            own = self.scales[j]
            c = self.clip * own
            step = c if r > c else (-c if r < -c else r)
            centres[j] += rate * step
            own += rate * ((step if step > 0 else -step) - own)
            self.scales[j] = own if own > floor else floor
        return s, r

    def _novel(self, x: float, j: int) -> None:
        """A novel reading (``j``: its nearest state): a run of them long enough, steady and apart is a state."""
        n, total, squares = self.novel
        n, total, squares = n + 1, total + x, squares + x * x
        if n <= self.run:
            self.novel = (n, total, squares)
            return
        self.novel = (0, 0.0, 0.0)
        mean = total / n
        spread = MAD_PER_SD * max(squares / n - mean * mean, 0.0) ** 0.5
        if abs(mean - self.centres[j]) <= self.gap * spread:  # a noisy spell, not a level
            return
        if len(self.centres) < self.most:
            self.centres.append(mean)
            self.scales.append(spread)
            self.visits.append(0.0)
            self.left.append(0)
        else:
            self.centres[j], self.scales[j], self.visits[j], self.left[j] = mean, spread, 0.0, 0
