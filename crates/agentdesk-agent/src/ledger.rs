//! The day's spending, shared by every task of a server: a daily cap holds across tasks that
//! run at once because each step reserves its cost before it calls the model, under one lock
//! (the caller's), and settles it after.
//!
//! A step's reservation is its task's last step's cost (a model's next step costs about what
//! its last did: the same conversation plus one screen), or a first-step estimate. A day is a
//! UTC date; spending carries over restarts because the server replays its ledger file into
//! [`Ledger::record`].

/// The day's spending and what running steps have reserved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    day: String,
    spent: f64,
    reserved: f64,
    cap: Option<f64>,
}

/// A step's reserved cost: settle it with [`Ledger::settle`].
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Reservation {
    day: String,
    amount: f64,
}

impl Ledger {
    /// A ledger with a daily cap in dollars, if any.
    pub fn new(cap: Option<f64>) -> Ledger {
        Ledger {
            cap,
            ..Ledger::default()
        }
    }

    /// The cap.
    pub fn cap(&self) -> Option<f64> {
        self.cap
    }

    fn roll(&mut self, today: &str) {
        if self.day != today {
            self.day = today.to_owned();
            self.spent = 0.0;
            self.reserved = 0.0;
        }
    }

    /// What was spent on `today` (settled steps).
    pub fn spent(&mut self, today: &str) -> f64 {
        self.roll(today);
        self.spent
    }

    /// Counts spending of `day` (a step settled, or a line of the ledger file read back).
    pub fn record(&mut self, day: &str, usd: f64) {
        if day == self.day || self.day.is_empty() || day > self.day.as_str() {
            self.roll(day);
            self.spent += usd.max(0.0);
        }
    }

    /// Reserves `estimate` dollars for a step on `today`; refused when the day's spending and
    /// reservations would pass the cap.
    pub fn reserve(&mut self, today: &str, estimate: f64) -> Result<Reservation, crate::Error> {
        self.roll(today);
        let estimate = estimate.max(0.0);
        if let Some(cap) = self.cap {
            if self.spent + self.reserved + estimate > cap || self.spent >= cap {
                return Err(crate::Error::Budget(format!(
                    "the daily cap of ${cap:.2} is reached: ${:.4} spent today (UTC) and \
                     ${:.4} reserved by running steps; it resets at midnight UTC, or the \
                     operator raises --max-usd-per-day",
                    self.spent, self.reserved
                )));
            }
        }
        self.reserved += estimate;
        Ok(Reservation {
            day: today.to_owned(),
            amount: estimate,
        })
    }

    /// Ends `reservation`: the step cost `actual` dollars.
    pub fn settle(&mut self, reservation: Reservation, actual: f64) {
        if reservation.day == self.day {
            self.reserved = (self.reserved - reservation.amount).max(0.0);
        }
        self.record(&reservation.day, actual);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_hold_the_cap_across_tasks() {
        let mut l = Ledger::new(Some(1.0));
        let a = l.reserve("2026-12-06", 0.6).unwrap();
        // A second task's step would pass the cap with the first one's reservation.
        let e = l.reserve("2026-12-06", 0.6).unwrap_err().to_string();
        assert!(e.contains("daily cap of $1.00"), "{e}");
        l.settle(a, 0.5);
        assert_eq!(l.spent("2026-12-06"), 0.5);
        let b = l.reserve("2026-12-06", 0.4).unwrap();
        l.settle(b, 0.7);
        assert!(
            l.reserve("2026-12-06", 0.0).is_err(),
            "spent is over the cap"
        );
        // A new day starts at zero.
        assert!(l.reserve("2026-12-07", 0.9).is_ok());
        assert_eq!(l.spent("2026-12-07"), 0.0);
    }

    #[test]
    fn replayed_lines_count_only_for_their_day() {
        let mut l = Ledger::new(None);
        l.record("2026-12-05", 3.0);
        l.record("2026-12-06", 1.0);
        l.record("2026-12-06", 0.5);
        assert_eq!(l.spent("2026-12-06"), 1.5);
        // An older line after a newer one does not reset the day.
        l.record("2026-12-05", 9.0);
        assert_eq!(l.spent("2026-12-06"), 1.5);
        assert!(l.reserve("2026-12-06", 100.0).is_ok(), "no cap");
    }
}
