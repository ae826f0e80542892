//! What people and GitHub do beyond the basics of a pull request: a push whose commit names
//! someone other than the pusher, a merge queue's group, clocks that are off or stopped, and
//! a history of closed pull requests made in bulk.

use super::{GitHub, writes};

impl GitHub {
    /// A merge queue's group of `prs` (in queue order), as GitHub builds it before it asks
    /// for the group's checks: returns its head commit, its branch (`refs/heads/…`) and the
    /// base commit it starts from.
    pub fn queue_merge_group(&self, prs: &[u64]) -> (String, String, String) {
        self.world().queue_merge_group(&self.repo, prs)
    }

    /// A push by `pusher` of a commit whose author and committer name `author` (git lets
    /// anyone write any name there); the `synchronize` delivery's sender is `pusher`.
    pub fn push_authored_as(
        &self,
        pr: u64,
        pusher: &str,
        author: &str,
        files: &[(&str, &str)],
    ) -> String {
        self.world()
            .push_authored(&self.repo, pr, pusher, author, &writes(files))
    }

    /// `n` pull requests closed into `main` one after another between the two times (their
    /// last update), made at once: every `merge_every`-th merged, the others closed without
    /// merge, none touching a request file. Returns their numbers, oldest first.
    pub fn closed_pulls_in_bulk(
        &self,
        n: usize,
        merge_every: usize,
        between: (time::OffsetDateTime, time::OffsetDateTime),
    ) -> Vec<u64> {
        self.world()
            .closed_pulls_in_bulk((&self.repo, "main", "dave"), n, merge_every, between)
    }

    /// Stops GitHub's clock at `at` (its JWT checks, tokens and `Date` header), as a GitHub,
    /// or a proxy in front of it, whose clock is wrong; `None` starts it again.
    pub fn stop_clock_at(&self, at: Option<time::OffsetDateTime>) {
        self.world().stopped_at = at;
    }

    /// Shifts the timestamps of everything recorded from now on (commits,
    /// pull requests, reviews, comments, check runs) by `seconds`; negative
    /// is the past, e.g. a merge before keygate was installed. Tokens, JWT
    /// checks and the `Date` header keep GitHub's clock
    /// ([`set_clock_ahead_of_keygates`](Self::set_clock_ahead_of_keygates)).
    pub fn set_clock_offset(&self, seconds: i64) {
        self.world().clock_offset = time::Duration::seconds(seconds);
    }

    /// Makes GitHub's clock `seconds` ahead of keygate's (negative: behind), as when
    /// keygate's host clock is off: GitHub checks the App's JWT (refusing it for its `iat`
    /// or `exp` claim) and its tokens' expiry on its own clock, and its `Date` header says
    /// that clock's time.
    pub fn set_clock_ahead_of_keygates(&self, seconds: i64) {
        self.world().skew = time::Duration::seconds(seconds);
    }
}
