//! The work queue on DynamoDB: recording, claiming, finishing and recovering deliveries.
//! Each step is a conditional transaction over the delivery and its pull request's lock item.

use std::collections::{HashMap, HashSet};

use super::io::Query;
use super::item::*;
use super::{DynamoLedger, TRIES};
use crate::event::PrEvent;
use crate::ids::{DeliveryId, PrNumber};
use crate::ledger::{DeliveryState, Finish, Inserted, Job, LedgerError, NewDelivery, Taken};

impl DynamoLedger {
    /// A queued delivery of the same work for the same pull request, if the index shows one.
    async fn queued_of_same_work(&self, e: &PrEvent) -> Result<Option<String>, LedgerError> {
        let q = Query {
            index: Some(BY_PR),
            condition: "#ppk = :pr AND begins_with(#psk, :prefix)",
            names: &[("#ppk", BY_PR_PK), ("#psk", BY_PR_SK)],
            values: vec![
                (":pr", s(pr_list(&e.repository, e.pr))),
                (
                    ":prefix",
                    s(pr_prefix(DeliveryState::Queued, e.activity.work().as_str())),
                ),
            ],
            filter: None,
        };
        let page = self.page(&q, None, false).await?;
        page.items
            .first()
            .map(|i| get_s(i, "id").map(str::to_string))
            .transpose()
    }

    /// A change that puts a delivery in `state` with the index keys to match.
    pub(super) fn to_state(row: &DeliveryRow, state: DeliveryState) -> Change {
        Change::default()
            .set("state", s(state.as_str()))
            .set(BY_STATE_PK, s(delivery_list(state)))
            .set(BY_PR_SK, s(pr_order(state, &row.work, &row.id)))
    }

    /// Moves a running delivery out of `running` by `change` and releases its pull request,
    /// both or neither; only while it is still `running` as read (same owner and lease).
    /// `false`: it was not.
    async fn leave_running(
        &self,
        row: &DeliveryRow,
        change: Change,
        to: DeliveryState,
    ) -> Result<bool, LedgerError> {
        let mut values = vec![(":running", s("running"))];
        let mut held = "#state = :running".to_string();
        match &row.owner {
            Some(o) => {
                held.push_str(" AND #owner = :owner");
                values.push((":owner", s(o.as_str())));
            }
            None => held.push_str(" AND attribute_not_exists(#owner)"),
        }
        if let Some(lease) = row.lease_until {
            held.push_str(" AND #lease_until = :lease");
            values.push((":lease", n(lease)));
        }
        let change = change.remove("owner").remove("lease_until").when(
            &held,
            &["state", "owner", "lease_until"],
            values,
        );
        let release = Change::default().remove("running").remove("since").when(
            "#running = :id",
            &["running"],
            vec![(":id", s(row.id.as_str()))],
        );
        let lock = lock_key(&row.event.repository, row.event.pr);
        let counted = self.count_move(Some(DeliveryState::Running), to)?;
        let mut both = vec![
            self.update(delivery_key(&row.id), change.clone())?,
            self.update(lock, release)?,
        ];
        both.extend(counted.clone());
        match self.transact(both).await? {
            Ok(()) => Ok(true),
            Err(c) if c.failed(0) => Ok(false),
            // The lock names another delivery (or none): move this one alone.
            Err(c) if c.failed(1) => {
                let mut alone = vec![self.update(delivery_key(&row.id), change)?];
                alone.extend(counted);
                Ok(self.transact(alone).await?.is_ok())
            }
            Err(_) => Ok(false),
        }
    }

    fn requeue_change(row: &DeliveryRow) -> Change {
        DynamoLedger::to_state(row, DeliveryState::Queued)
    }

    pub(super) async fn running(&self) -> Result<Vec<DeliveryRow>, LedgerError> {
        let q = Query::list(delivery_list(DeliveryState::Running), None);
        self.query_all(&q)
            .await?
            .iter()
            .map(DeliveryRow::read)
            .collect()
    }

    /// Whether this handle runs `row`, and whether its lease lapsed by `now`.
    fn holds(&self, row: &DeliveryRow, now: i64) -> (bool, bool) {
        let mine = row.owner.as_deref() == Some(self.me());
        let lapsed = row.lease_until.is_none_or(|t| t < now);
        (mine, lapsed)
    }

    /// Claims one queued delivery and its pull request's lock together.
    async fn try_claim(&self, row: &DeliveryRow, now: i64) -> Result<bool, LedgerError> {
        let lock = Change::default()
            .set("running", s(row.id.as_str()))
            .set("since", n(now))
            .when("attribute_not_exists(#running)", &["running"], vec![]);
        let claim = DynamoLedger::to_state(row, DeliveryState::Running)
            .set("attempts", n(i64::from(row.attempts) + 1))
            .set("owner", s(self.me()))
            .set("lease_until", n(now + self.lease_ms()))
            .when(
                "#state = :queued AND #attempts = :attempts AND #next_attempt_at <= :now",
                &["state", "attempts", "next_attempt_at"],
                vec![
                    (":queued", s("queued")),
                    (":attempts", n(i64::from(row.attempts))),
                    (":now", n(now)),
                ],
            );
        let mut items = vec![
            self.update(lock_key(&row.event.repository, row.event.pr), lock)?,
            self.update(delivery_key(&row.id), claim)?,
        ];
        items.extend(self.count_move(Some(DeliveryState::Queued), DeliveryState::Running)?);
        Ok(self.transact(items).await?.is_ok())
    }

    /// Marks failed the deliveries coalesced into `id`. Done before `id` itself is marked, so
    /// a crash in between leaves them failed (Redeliver runs them again), never waiting on
    /// work that is over.
    async fn fail_coalesced(
        &self,
        row: &DeliveryRow,
        error: &str,
        now: i64,
    ) -> Result<(), LedgerError> {
        let q = Query {
            index: Some(BY_PR),
            condition: "#ppk = :pr AND begins_with(#psk, :prefix)",
            names: &[
                ("#ppk", BY_PR_PK),
                ("#psk", BY_PR_SK),
                ("#into", "coalesced_into"),
            ],
            values: vec![
                (":pr", s(pr_list(&row.event.repository, row.event.pr))),
                (
                    ":prefix",
                    s(format!("{}#", DeliveryState::Coalesced.as_str())),
                ),
                (":id", s(row.id.as_str())),
            ],
            filter: Some("#into = :id"),
        };
        for item in self.query_all(&q).await? {
            let other = DeliveryRow::read(&item)?;
            let change = DynamoLedger::to_state(&other, DeliveryState::Failed)
                .set("finished_at", n(now))
                .set("last_error", s(error))
                .when(
                    "#state = :coalesced AND #coalesced_into = :id",
                    &["state", "coalesced_into"],
                    vec![(":coalesced", s("coalesced")), (":id", s(row.id.as_str()))],
                );
            // A condition that fails means it moved on by itself: nothing to do.
            let mut items = vec![self.update(delivery_key(&other.id), change)?];
            items.extend(self.count_move(Some(DeliveryState::Coalesced), DeliveryState::Failed)?);
            let _ = self.transact(items).await?;
        }
        Ok(())
    }

    /// Whether a coalesced delivery's work ended without it: its target failed (or is gone),
    /// so GitHub's Redeliver of it must run it.
    async fn orphaned_coalesced(&self, row: &DeliveryRow) -> Result<bool, LedgerError> {
        let Some(target) = &row.coalesced_into else {
            return Ok(true);
        };
        match self
            .get(delivery_key(&DeliveryId::new(target.as_str())))
            .await?
        {
            None => Ok(true),
            Some(item) => Ok(DeliveryRow::read(&item)?.state == DeliveryState::Failed),
        }
    }

    /// Records a new delivery in one conditional transaction, which also says whether its
    /// ID was seen before: the ledger reads the delivery only then (a repeat is rare), so a
    /// new one costs the index query and the write.
    pub(super) async fn record(&self, d: NewDelivery) -> Result<Inserted, LedgerError> {
        // Each merge group has its own head to report on: never coalesced.
        let mut coalesce = d.event.activity.work() != crate::event::Work::Group;
        for _ in 0..TRIES {
            // A delivery that finds one of the same work queued (not started) for the same
            // pull request is stored as `coalesced`: the queued one reads the pull request
            // afresh when it runs, which covers this one. The index only nominates; the
            // transaction checks the target is still queued.
            let target = if coalesce {
                self.queued_of_same_work(&d.event).await?
            } else {
                None
            };
            // The queued one is this very delivery: its ID is recorded already (and one
            // transaction cannot both create and check the same item).
            if target.as_deref() == Some(d.id.as_str()) {
                if let Some(inserted) = self.seen_again(&d).await? {
                    return Ok(inserted);
                }
                continue;
            }
            let state = match target {
                Some(_) => DeliveryState::Coalesced,
                None => DeliveryState::Queued,
            };
            let mut items = vec![self.create(new_delivery(&d, state, target.as_deref()))?];
            if let Some(t) = &target {
                let queued = Change::default().when(
                    "#state = :queued",
                    &["state"],
                    vec![(":queued", s("queued"))],
                );
                items.push(self.check(delivery_key(&DeliveryId::new(t.as_str())), queued)?);
            }
            items.extend(self.count_move(None, state)?);
            match self.transact(items).await? {
                Ok(()) if target.is_some() => return Ok(Inserted::Coalesced),
                Ok(()) => return Ok(Inserted::Queued),
                // Its ID is recorded already: a repeat, or one GitHub sends again.
                // (`None`: it moved meanwhile, and the next round looks again.)
                Err(c) if c.failed(0) => {
                    if let Some(inserted) = self.seen_again(&d).await? {
                        return Ok(inserted);
                    }
                }
                // The target started meanwhile (the index may lag): queue this one instead.
                Err(c) if c.failed(1) => coalesce = false,
                Err(_) => {}
            }
        }
        Err(LedgerError::Write(format!(
            "delivery {} could not be recorded: the ledger kept changing under it",
            d.id
        )))
    }

    /// A delivery whose ID is recorded already: a duplicate, or GitHub's "Redeliver" of a
    /// failed one (or of one coalesced into work that failed), which runs it again. `None`
    /// when it is gone or moved while being read: look again.
    async fn seen_again(&self, d: &NewDelivery) -> Result<Option<Inserted>, LedgerError> {
        let Some(item) = self.get(delivery_key(&d.id)).await? else {
            return Ok(None);
        };
        let row = DeliveryRow::read(&item)?;
        let again = match row.state {
            DeliveryState::Failed => true,
            DeliveryState::Coalesced => self.orphaned_coalesced(&row).await?,
            _ => false,
        };
        if !again {
            return Ok(Some(Inserted::Duplicate));
        }
        let received = d.received_at_ms;
        let change = DynamoLedger::to_state(&row, DeliveryState::Queued)
            .set(BY_STATE_SK, s(due_order(received, received, &row.id)))
            .set("attempts", n(0))
            .set("next_attempt_at", n(received))
            .set("received_at", n(received))
            .remove("last_error")
            .remove("coalesced_into")
            .when(
                "#state = :seen",
                &["state"],
                vec![(":seen", s(row.state.as_str()))],
            );
        let mut write = vec![self.update(delivery_key(&d.id), change)?];
        write.extend(self.count_move(Some(row.state), DeliveryState::Queued)?);
        Ok(self
            .transact(write)
            .await?
            .is_ok()
            .then_some(Inserted::Queued))
    }

    pub(super) async fn claim(&self, now: i64, limit: usize) -> Result<Vec<Job>, LedgerError> {
        let mut jobs = Vec::new();
        // The first due delivery of each pull request is its only candidate, as in SQLite.
        let mut seen: HashSet<(String, PrNumber)> = HashSet::new();
        let q = Query::list(delivery_list(DeliveryState::Queued), Some(due_by(now)));
        let mut start = None;
        while jobs.len() < limit {
            let page = self.page(&q, start, false).await?;
            for item in &page.items {
                let row = DeliveryRow::read(item)?;
                let pr = (row.event.repository.key().to_string(), row.event.pr);
                if !seen.insert(pr) {
                    continue;
                }
                if self.try_claim(&row, now).await? {
                    jobs.push(Job {
                        id: row.id,
                        event: row.event,
                        attempts: row.attempts + 1,
                        received_at_ms: row.received_at,
                    });
                    if jobs.len() == limit {
                        break;
                    }
                }
            }
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        Ok(jobs)
    }

    /// Claims one named delivery (a queue message's), taking over a running one whose
    /// lease lapsed; see [`Taken`].
    pub(super) async fn claim_one(&self, id: &DeliveryId, now: i64) -> Result<Taken, LedgerError> {
        for _ in 0..TRIES {
            let Some(item) = self.get(delivery_key(id)).await? else {
                return Ok(Taken::Over);
            };
            let row = DeliveryRow::read(&item)?;
            match row.state {
                DeliveryState::Queued if row.next_attempt_at > now => {
                    return Ok(Taken::NotDue {
                        at_ms: row.next_attempt_at,
                    });
                }
                DeliveryState::Queued => {
                    if self.try_claim(&row, now).await? {
                        return Ok(Taken::Job(Job {
                            id: row.id,
                            event: row.event,
                            attempts: row.attempts + 1,
                            received_at_ms: row.received_at,
                        }));
                    }
                    // The pull request's lock is held, or the row moved: see who holds it.
                    if let Some(until_ms) = self.pr_busy_until(&row, now).await? {
                        return Ok(Taken::Busy { until_ms });
                    }
                }
                DeliveryState::Running => match row.lease_until {
                    Some(until_ms) if until_ms >= now => return Ok(Taken::Busy { until_ms }),
                    // Its runner stopped renewing the lease: put it back, then claim it.
                    _ => {
                        self.leave_running(
                            &row,
                            DynamoLedger::requeue_change(&row),
                            DeliveryState::Queued,
                        )
                        .await?;
                    }
                },
                DeliveryState::Coalesced | DeliveryState::Done | DeliveryState::Failed => {
                    return Ok(Taken::Over);
                }
            }
        }
        // Kept changing under us: the message comes back and asks again.
        Ok(Taken::Busy {
            until_ms: now + 1_000,
        })
    }

    /// Until when another delivery holds `row`'s pull request: `None` when nothing holds it
    /// any more (a lapsed holder is put back in the queue, a stale lock cleared), so the
    /// caller tries to claim again.
    async fn pr_busy_until(&self, row: &DeliveryRow, now: i64) -> Result<Option<i64>, LedgerError> {
        let lock = lock_key(&row.event.repository, row.event.pr);
        let Some(held) = self.get(lock.clone()).await? else {
            return Ok(None);
        };
        let Some(holder) = get_s(&held, "running").ok().map(str::to_string) else {
            return Ok(None);
        };
        let holder_row = match self
            .get(delivery_key(&DeliveryId::new(holder.as_str())))
            .await?
        {
            Some(item) => Some(DeliveryRow::read(&item)?),
            None => None,
        };
        match holder_row {
            Some(h) if h.state == DeliveryState::Running => match h.lease_until {
                Some(until) if until >= now => Ok(Some(until)),
                _ => {
                    self.leave_running(&h, DynamoLedger::requeue_change(&h), DeliveryState::Queued)
                        .await?;
                    Ok(None)
                }
            },
            // The lock names a delivery that is not running: release it.
            _ => {
                let release = Change::default().remove("running").remove("since").when(
                    "#running = :id",
                    &["running"],
                    vec![(":id", s(holder.as_str()))],
                );
                let _ = self.transact(vec![self.update(lock, release)?]).await?;
                Ok(None)
            }
        }
    }

    pub(super) async fn finish(
        &self,
        id: DeliveryId,
        finish: Finish,
        now: i64,
    ) -> Result<(), LedgerError> {
        let Some(item) = self.get(delivery_key(&id)).await? else {
            return Ok(());
        };
        let row = DeliveryRow::read(&item)?;
        let to = match &finish {
            Finish::Done => DeliveryState::Done,
            Finish::Retry { .. } => DeliveryState::Queued,
            Finish::Failed { .. } => DeliveryState::Failed,
        };
        let change = match &finish {
            Finish::Done => DynamoLedger::to_state(&row, DeliveryState::Done)
                .set("finished_at", n(now))
                .remove("last_error"),
            Finish::Retry { at_ms, error } => DynamoLedger::to_state(&row, DeliveryState::Queued)
                .set("next_attempt_at", n(*at_ms))
                .set(BY_STATE_SK, s(due_order(*at_ms, row.received_at, &row.id)))
                .set("last_error", s(error.as_str())),
            Finish::Failed { error } => {
                self.fail_coalesced(&row, error, now).await?;
                DynamoLedger::to_state(&row, DeliveryState::Failed)
                    .set("finished_at", n(now))
                    .set("last_error", s(error.as_str()))
            }
        };
        let done = match (row.state, row.owner.as_deref()) {
            (DeliveryState::Running, Some(owner)) if owner == self.me() => {
                self.leave_running(&row, change, to).await?
            }
            (DeliveryState::Running, _) => false,
            // Not running (put back in the queue meanwhile): the outcome stands, as in SQLite,
            // unless the delivery moved again since it was read.
            (seen, _) => {
                let change = change.when(
                    "#state = :seen",
                    &["state"],
                    vec![(":seen", s(seen.as_str()))],
                );
                let mut items = vec![self.update(delivery_key(&id), change)?];
                items.extend(self.count_move(Some(seen), to)?);
                self.transact(items).await?.is_ok()
            }
        };
        if done {
            return Ok(());
        }
        Err(LedgerError::Write(format!(
            "delivery {id} is another worker's now (this one's lease lapsed); its outcome is left to the attempt that holds it"
        )))
    }

    pub(super) async fn next_due(&self) -> Result<Option<i64>, LedgerError> {
        // Only deliveries that could be claimed: one whose pull request is running waits for
        // that to finish (which wakes the worker), not for its own time.
        let q = Query::list(delivery_list(DeliveryState::Queued), None);
        let mut busy: HashMap<(String, PrNumber), bool> = HashMap::new();
        let mut start = None;
        loop {
            let page = self.page(&q, start, false).await?;
            for item in &page.items {
                let row = DeliveryRow::read(item)?;
                let pr = (row.event.repository.key().to_string(), row.event.pr);
                let running = match busy.get(&pr) {
                    Some(b) => *b,
                    None => {
                        let lock = self
                            .get(lock_key(&row.event.repository, row.event.pr))
                            .await?;
                        let b = lock.is_some_and(|l| l.contains_key("running"));
                        busy.insert(pr, b);
                        b
                    }
                };
                if !running {
                    return Ok(Some(row.next_attempt_at));
                }
            }
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(None),
            }
        }
    }

    /// Puts back in the queue the running deliveries this handle holds, except those in
    /// `keep` (renewing their lease instead), and those whose lease lapsed by `now`.
    pub(super) async fn requeue_at(
        &self,
        keep: &HashSet<DeliveryId>,
        now: i64,
    ) -> Result<usize, LedgerError> {
        self.requeue_rows(self.running().await?, keep, now).await
    }

    /// [`DynamoLedger::requeue_at`] over `running`, the running deliveries as just read.
    pub(super) async fn requeue_rows(
        &self,
        running: Vec<DeliveryRow>,
        keep: &HashSet<DeliveryId>,
        now: i64,
    ) -> Result<usize, LedgerError> {
        let mut requeued = 0;
        for row in running {
            let (mine, lapsed) = self.holds(&row, now);
            if mine && keep.contains(&row.id) {
                // Still at work on it: renew the lease so no other replica takes it.
                let renew = Change::default()
                    .set("lease_until", n(now + self.lease_ms()))
                    .when(
                        "#state = :running AND #owner = :me",
                        &["state", "owner"],
                        vec![(":running", s("running")), (":me", s(self.me()))],
                    );
                let _ = self
                    .transact(vec![self.update(delivery_key(&row.id), renew)?])
                    .await?;
            } else if (mine || lapsed)
                && self
                    .leave_running(
                        &row,
                        DynamoLedger::requeue_change(&row),
                        DeliveryState::Queued,
                    )
                    .await?
            {
                requeued += 1;
            }
        }
        Ok(requeued)
    }
}
