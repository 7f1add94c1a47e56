//! Standby replicas (`num.standby.replicas`): warm copies of other instances' task stores, kept
//! current from their changelogs, so a task that fails over to this instance restores only the
//! changelog's tail.
//!
//! Kafka Streams places standbys through its own partition assignor, which also sends tasks to
//! the instance with the warmest state. Through rdkafka an application can only use librdkafka's
//! built-in assignors (`range` here, which keeps co-partitioned inputs together): it cannot
//! steer which member gets a task, and the classic protocol gives a member no view of the
//! others' assignments. So placement works beside the group instead of inside it:
//!
//! - every instance publishes the tasks its threads own to a compacted membership topic,
//!   `<application.id>-instances` (key: its process id; value: its task ids; a heartbeat every
//!   `HEARTBEAT`, a tombstone on clean close), and reads everyone's;
//! - live instances (heard from within `LIVENESS`) are ordered by process id in a ring; each
//!   task's standbys are the `num.standby.replicas` instances after its owner in that ring, so
//!   every instance computes the same placement without a coordinator;
//! - an instance's standby thread keeps those tasks' persistent, logged stores in the task's own
//!   directory (`<state.dir>/<application.id>/<task id>`), applies their changelogs as they grow,
//!   and checkpoints them. When the group then assigns such a task to this instance, the stream
//!   thread first has the standby closed (it writes its final checkpoint), and the active task
//!   opens the same stores, trusting that checkpoint: the restore reads only the tail.
//!
//! What the assignor cannot do is prefer the warm instance: a task moves wherever `range` puts
//! it. With `num.standby.replicas` ≥ (instances − 1) every instance is warm for every task, so
//! any failover restores only the tail; with fewer, it is a matter of where the task lands.
//! In-memory stores have no standbys (the active task's new store would not inherit them).
//!
//! Two parts: `membership` (publishing this instance's tasks, reading the others', and the ring
//! placement computed from them) and `replicas` (the standby thread, the standby tasks it keeps
//! current, and the registry through which stream threads take a task's stores over from it).

mod membership;
mod replicas;

pub(crate) use membership::membership_topic;
pub(crate) use replicas::{StandbyRegistry, start};
