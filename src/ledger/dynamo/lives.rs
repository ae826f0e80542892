//! The life of issued keys (DESIGN §5) on DynamoDB: one `KEY#<access key id>` item per key
//! whose life has moved, joined with the `stored` or `issued` intent that issued it.
//!
//! Index reads are eventually consistent, so the sweep only nominates: a step is written with
//! a condition on the progress it was read in, and a stale read loses with
//! [`LedgerError::Moved`] instead of acting twice.

use std::collections::{HashMap, HashSet};

use super::DynamoLedger;
use super::io::Query;
use super::item::*;
use crate::ids::AccessKeyId;
use crate::ledger::{Intent, IntentState, KeyLife, LedgerError, now_ms};
use crate::life::Progress;

/// The intents that issued a key and may still hold one.
const ISSUING: [IntentState; 2] = [IntentState::Stored, IntentState::Issued];

impl DynamoLedger {
    /// Intents in [`ISSUING`] with an access key (`only` that one), with their creation time.
    async fn issuing_intents(
        &self,
        only: Option<&AccessKeyId>,
    ) -> Result<Vec<(i64, Intent)>, LedgerError> {
        let mut found = Vec::new();
        for state in ISSUING {
            let mut values = vec![(":list", s(intent_list(state)))];
            if let Some(id) = only {
                values.push((":akid", s(id.as_str())));
            }
            let q = Query {
                index: Some(BY_STATE),
                condition: "#lpk = :list",
                names: &[("#lpk", BY_STATE_PK), ("#akid", "access_key_id")],
                values,
                filter: Some(match only {
                    Some(_) => "#akid = :akid",
                    None => "attribute_exists(#akid)",
                }),
            };
            for item in self.query_all(&q).await? {
                found.push((get_n(&item, "created_at")?, read_intent(&item)?));
            }
        }
        Ok(found)
    }

    /// The life items of one `by_state` partition, by access key ID.
    async fn lives_in(&self, list: &str) -> Result<HashMap<AccessKeyId, Item>, LedgerError> {
        let items = self.query_all(&Query::list(list.into(), None)).await?;
        let mut by_key = HashMap::new();
        for item in items {
            by_key.insert(AccessKeyId::new(get_s(&item, "access_key_id")?), item);
        }
        Ok(by_key)
    }

    pub(super) async fn lives_to_sweep(&self) -> Result<Vec<KeyLife>, LedgerError> {
        let intents = self.issuing_intents(None).await?;
        let mut lives = self.lives_in(LIVE_KEYS).await?;
        // An issued key missing from the live partition is either untouched (active) or
        // over: only then is the over partition read.
        let unseen = intents.iter().any(|(_, i)| {
            i.access_key_id
                .as_ref()
                .is_some_and(|k| !lives.contains_key(k))
        });
        if unseen {
            for (key, over) in self.lives_in(OVER_KEYS).await? {
                // A key that just moved may briefly be in both: the later write wins.
                let newer = match lives.get(&key) {
                    Some(live) => get_n(&over, "updated_at")? >= get_n(live, "updated_at")?,
                    None => true,
                };
                if newer {
                    lives.insert(key, over);
                }
            }
        }
        let mut found = Vec::new();
        let mut issued = HashSet::new();
        for (created, intent) in &intents {
            let Some(id) = &intent.access_key_id else {
                continue;
            };
            issued.insert(id.clone());
            found.push((*created, join_life(intent, lives.get(id))?));
        }
        for (id, item) in &lives {
            if !issued.contains(id) {
                found.push(read_life(item)?);
            }
        }
        found.retain(|(_, l)| !l.progress.is_over());
        found.sort_by(|a, b| (a.0, &a.1.access_key_id).cmp(&(b.0, &b.1.access_key_id)));
        Ok(found.into_iter().map(|(_, l)| l).collect())
    }

    pub(super) async fn life(
        &self,
        access_key_id: &AccessKeyId,
    ) -> Result<Option<KeyLife>, LedgerError> {
        let Some(item) = self.get(life_key(access_key_id)).await? else {
            // No step recorded yet: the key is known only through the intent that issued it.
            let intents = self.issuing_intents(Some(access_key_id)).await?;
            return match intents.first() {
                Some((_, intent)) => Ok(Some(join_life(intent, None)?)),
                None => Ok(None),
            };
        };
        let (_, alone) = read_life(&item)?;
        let r = &alone.request;
        let intent = match self.get(intent_key(&r.repository, r.pr, &r.path)).await? {
            Some(i) => Some(read_intent(&i)?),
            None => None,
        };
        match intent {
            Some(i)
                if ISSUING.contains(&i.state)
                    && i.access_key_id.as_ref() == Some(access_key_id) =>
            {
                Ok(Some(join_life(&i, Some(&item))?))
            }
            _ => Ok(Some(alone)),
        }
    }

    pub(super) async fn record_step(
        &self,
        life: KeyLife,
        from: Progress,
    ) -> Result<(), LedgerError> {
        let key = life_key(&life.access_key_id);
        let write = self.update(key.clone(), life_step(&life, from, now_ms()))?;
        if self.transact(vec![write]).await?.is_ok() {
            return Ok(());
        }
        let found = match self.get(key).await? {
            Some(item) => read_progress(&item)?,
            None => Progress::ACTIVE,
        };
        Err(LedgerError::Moved {
            access_key_id: life.access_key_id,
            found: describe(found),
        })
    }
}
