//! Durable state on the embedded broker: RocksDB stores restored from their changelogs into a
//! fresh instance, a clean restart that restores nothing (the checkpoint vouches for the local
//! stores), damaged or foreign local state rebuilt from the changelog, and the state directory
//! lock.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use streams::processor::TaskId;
use streams::{EmbeddedBroker, KafkaStreams, StateRestoreListener, StreamsConfig, StreamsError};

const QUIET: Duration = Duration::from_millis(1500);
const LIMIT: Duration = Duration::from_secs(90);

/// Records each store restore: (task, store, records applied), and where each began.
#[derive(Default)]
struct Restores(Mutex<Vec<(TaskId, String, u64)>>, Mutex<Vec<(TaskId, i64)>>);

impl StateRestoreListener for Restores {
    fn on_restore_start(&self, task: TaskId, _: &str, _: &str, start: i64, _: i64) {
        self.1.lock().unwrap().push((task, start));
    }

    fn on_restore_end(&self, task: TaskId, store: &str, records: u64) {
        self.0
            .lock()
            .unwrap()
            .push((task, store.to_owned(), records));
    }
}

impl Restores {
    fn total(&self) -> u64 {
        self.0.lock().unwrap().iter().map(|(_, _, n)| n).sum()
    }
}

struct Setup {
    broker: EmbeddedBroker,
    lines: String,
    counts: String,
    application_id: String,
}

impl Setup {
    fn new() -> Self {
        streams::cli::init_tracing();
        let broker = EmbeddedBroker::start().unwrap();
        let (lines, counts) = (unique("lines"), unique("counts"));
        broker.create_topic(&lines, 2).unwrap();
        broker.create_topic(&counts, 2).unwrap();
        Setup {
            broker,
            lines,
            counts,
            application_id: unique("stateful"),
        }
    }

    fn config(&self, state_dir: &Path) -> StreamsConfig {
        let mut config = StreamsConfig::new(&self.application_id)
            .bootstrap_servers(self.broker.bootstrap_servers())
            .commit_interval(Duration::from_millis(200))
            .state_dir(state_dir);
        config.set("consumer.session.timeout.ms", "3000").unwrap();
        config.set("consumer.heartbeat.interval.ms", "500").unwrap();
        config
    }

    fn instance(&self, state_dir: &Path, restores: &Arc<Restores>) -> KafkaStreams {
        self.instance_with(self.config(state_dir), restores)
    }

    fn instance_with(&self, config: StreamsConfig, restores: &Arc<Restores>) -> KafkaStreams {
        let topology = wordcount_topology(&self.lines, &self.counts);
        self.broker.prepare(&topology, &config).unwrap();
        let mut app = KafkaStreams::new(topology, config).unwrap();
        app.set_restore_listener(Arc::clone(restores) as Arc<dyn StateRestoreListener>);
        app
    }

    /// Runs an instance on `state_dir` until idle; returns its final counts and restores.
    fn run(&self, state_dir: &Path) -> (BTreeMap<String, u64>, Arc<Restores>) {
        let restores = Arc::new(Restores::default());
        let mut app = self.instance(state_dir, &restores);
        app.start().unwrap();
        wait_idle(&app, QUIET, LIMIT);
        (snapshot_counts(&app.close().unwrap()), restores)
    }

    fn produce(&self, lines: &[String]) {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        produce_lines(self.broker.bootstrap_servers(), &self.lines, &refs);
    }

    fn changelog(&self) -> String {
        format!("{}-counts-changelog", self.application_id)
    }
}

fn state_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("state"))
}

/// The latest count per word in the changelog.
fn changelog_counts(setup: &Setup) -> BTreeMap<String, u64> {
    common::changelog_counts(setup.broker.bootstrap_servers(), &setup.changelog())
}

#[test]
fn a_fresh_instance_restores_the_changelog_and_a_clean_restart_restores_nothing() {
    let setup = Setup::new();
    let input = lines(300, 21);
    setup.produce(&input);
    let expected = expected_counts(&input);

    let (first, restores) = setup.run(&state_dir());
    assert_eq!(first, expected);
    assert_eq!(restores.total(), 0, "nothing to restore on a new changelog");
    assert_eq!(
        changelog_counts(&setup),
        expected,
        "the changelog holds the state"
    );

    // A fresh instance (empty state directory) rebuilds every store from the changelog.
    let fresh = state_dir();
    let (second, restores) = setup.run(&fresh);
    assert_eq!(second, expected);
    let changelog = read_all(setup.broker.bootstrap_servers(), &setup.changelog()).len() as u64;
    assert_eq!(restores.total(), changelog, "every changelog record, once");
    assert!(
        changelog <= expected.values().sum::<u64>(),
        "the record cache merges updates"
    );

    // A clean restart on that directory: the checkpoint vouches for the local stores.
    let (third, restores) = setup.run(&fresh);
    assert_eq!(third, expected);
    assert_eq!(restores.total(), 0, "{:?}", restores.0.lock().unwrap());
    assert!(
        !restores.0.lock().unwrap().is_empty(),
        "every store still reported its (empty) restore"
    );

    // More input after the restart continues from the restored counts.
    let more = lines(50, 22);
    setup.produce(&more);
    let all: Vec<String> = input.iter().chain(&more).cloned().collect();
    let (fourth, restores) = setup.run(&fresh);
    assert_eq!(fourth, expected_counts(&all));
    assert_eq!(restores.total(), 0);
}

#[test]
fn a_damaged_local_store_is_rebuilt_from_the_changelog() {
    let setup = Setup::new();
    let input = lines(200, 23);
    setup.produce(&input);
    let expected = expected_counts(&input);
    let dir = state_dir();
    assert_eq!(setup.run(&dir).0, expected);
    // Damage every task's RocksDB store of the counting sub-topology.
    let app_dir = dir.join(&setup.application_id);
    let mut damaged = 0;
    for task in std::fs::read_dir(&app_dir).unwrap() {
        let store = task.unwrap().path().join("counts");
        if store.exists() {
            std::fs::write(store.join("CURRENT"), "MANIFEST-999999\n").unwrap();
            damaged += 1;
        }
    }
    assert_eq!(damaged, 2, "one store per partition");
    let (counts, restores) = setup.run(&dir);
    assert_eq!(counts, expected);
    let changelog = read_all(setup.broker.bootstrap_servers(), &setup.changelog()).len() as u64;
    assert_eq!(restores.total(), changelog);
}

#[test]
fn local_state_of_another_changelog_history_is_not_trusted() {
    // A first broker's run leaves a checkpoint at offsets a new broker's changelog lacks.
    let dir = state_dir();
    let first = Setup::new();
    let input = lines(200, 24);
    first.produce(&input);
    assert_eq!(first.run(&dir).0, expected_counts(&input));

    let second = Setup {
        application_id: first.application_id.clone(),
        ..Setup::new()
    };
    let fewer = lines(20, 25);
    second.produce(&fewer);
    let (counts, _) = second.run(&dir);
    assert_eq!(
        counts,
        expected_counts(&fewer),
        "the stale stores were wiped, not counted on"
    );
}

#[test]
fn two_instances_cannot_share_a_state_directory() {
    let setup = Setup::new();
    let dir = state_dir();
    let restores = Arc::new(Restores::default());
    let mut a = setup.instance(&dir, &restores);
    a.start().unwrap();
    let mut b = setup.instance(&dir, &restores);
    let error = b.start().unwrap_err();
    assert!(
        matches!(&error, StreamsError::StateDirLocked(path) if path == &dir.join(&setup.application_id)),
        "{error}"
    );
    assert!(
        error.to_string().contains("in use by another instance"),
        "{error}"
    );
    a.close().unwrap();
    // Closing releases the directory.
    let mut c = setup.instance(&dir, &restores);
    c.start().unwrap();
    c.close().unwrap();
}

#[test]
fn a_failover_to_a_standby_restores_only_the_tail() {
    let setup = Setup::new();
    let input = lines(300, 26);
    setup.produce(&input);
    let expected = expected_counts(&input);
    let standby_config = |dir: &Path| {
        let mut config = setup.config(dir);
        config.set("num.standby.replicas", "1").unwrap();
        config
    };
    // The leaver counts everything first; the survivor then joins and takes half the tasks,
    // and shadows the leaver's counting task, whose store it never had.
    let mut leaver = setup.instance_with(standby_config(&state_dir()), &Arc::default());
    leaver.start().unwrap();
    wait_idle(&leaver, QUIET, LIMIT);
    let restores = Arc::new(Restores::default());
    let mut survivor = setup.instance_with(standby_config(&state_dir()), &restores);
    survivor.start().unwrap();
    wait_idle(&survivor, QUIET, LIMIT);
    wait_idle(&leaver, QUIET, LIMIT);

    let repartition = format!("{}-counts-repartition", setup.application_id);
    let moving: Vec<i32> = leaver
        .assigned_partitions()
        .into_iter()
        .filter(|(topic, _)| *topic == repartition)
        .map(|(_, partition)| partition)
        .collect();
    assert_eq!(moving.len(), 1, "{:?}", leaver.assigned_partitions());
    let changelog = read_all(setup.broker.bootstrap_servers(), &setup.changelog());
    let shadowed = changelog
        .iter()
        .filter(|record| moving.contains(&record.partition))
        .count() as u64;
    assert!(shadowed > 0);
    let deadline = std::time::Instant::now() + LIMIT;
    while survivor.metrics().standby_records < shadowed {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            survivor.metrics()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(survivor.metrics().standby_tasks, 1);
    let before = restores.0.lock().unwrap().len();

    leaver.close().unwrap();
    let deadline = std::time::Instant::now() + LIMIT;
    while survivor.assigned_partitions().len() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            survivor.assigned_partitions()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_idle(&survivor, QUIET, LIMIT);
    let task = TaskId {
        subtopology: 1,
        partition: moving[0],
    };
    // The task moved in with its standby's stores: it restored from the standby's
    // checkpoint (the changelog's end), not from the beginning.
    let took_over: Vec<u64> = restores.0.lock().unwrap()[before..]
        .iter()
        .filter(|(id, store, _)| *id == task && store == "counts")
        .map(|(_, _, records)| *records)
        .collect();
    assert_eq!(took_over, [0], "{:?}", restores.0.lock().unwrap());
    let starts: Vec<i64> = restores
        .1
        .lock()
        .unwrap()
        .iter()
        .filter(|(id, _)| *id == task)
        .map(|(_, start)| *start)
        .collect();
    assert_eq!(starts.last(), Some(&(shadowed as i64)));
    assert_eq!(survivor.metrics().standby_tasks, 0);
    assert_eq!(snapshot_counts(&survivor.close().unwrap()), expected);
}

/// Remembers each line it sees in a store; its `init` reports how many lines the store held.
struct LineMemory {
    store: Option<streams::KeyValueStore<String, u64>>,
    seen_at_init: Arc<Mutex<Vec<usize>>>,
}

impl streams::Processor<(), String> for LineMemory {
    type KeyOut = ();
    type ValueOut = ();

    fn init(&mut self, ctx: &mut streams::InitContext<'_>) -> Result<(), streams::ProcessError> {
        let store: streams::KeyValueStore<String, u64> = ctx.store("lines-seen")?;
        self.seen_at_init.lock().unwrap().push(store.all()?.len());
        self.store = Some(store);
        Ok(())
    }

    fn process(
        &mut self,
        record: streams::Record<(), String>,
        _: &mut streams::ProcessorContext<'_, (), ()>,
    ) -> Result<(), streams::ProcessError> {
        if let Some(store) = &mut self.store {
            store.put(&record.value, &1)?;
        }
        Ok(())
    }
}

#[test]
fn processors_are_initialized_after_their_stores_are_restored() {
    use streams::{StateStore, StreamsBuilder, Topic};
    let setup = Setup::new();
    let input: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
    setup.produce(&input);
    let seen_at_init = Arc::new(Mutex::new(Vec::new()));
    let run = |dir: &Path| {
        let builder = StreamsBuilder::new();
        let seen = Arc::clone(&seen_at_init);
        let _ = builder
            .stream(&Topic::<(), String>::named(&setup.lines))
            .process_with(
                "remember",
                move || LineMemory {
                    store: None,
                    seen_at_init: Arc::clone(&seen),
                },
                [<streams::KeyValueStore<String, u64> as StateStore>::spec(
                    "lines-seen",
                )],
            );
        let topology = builder.build().unwrap();
        let config = setup.config(dir);
        setup.broker.prepare(&topology, &config).unwrap();
        let mut app = KafkaStreams::new(topology, config).unwrap();
        app.start().unwrap();
        wait_idle(&app, QUIET, LIMIT);
        app.close().unwrap();
        std::mem::take(&mut *seen_at_init.lock().unwrap())
    };
    // First run: empty stores at init; they then learn every line.
    assert_eq!(run(&state_dir()), [0, 0]);
    // A fresh instance restores the changelog first: init sees every line already there.
    let restored = run(&state_dir());
    assert_eq!(restored.iter().sum::<usize>(), input.len(), "{restored:?}");
}

/// Suspended tasks, as in Kafka Streams: a rebalance that gives the instance back every task it
/// had (another member joins the group for another topic, then leaves) resumes them with their
/// stores open. No store is restored again, and the counting goes on exactly.
#[test]
fn tasks_assigned_back_after_a_rebalance_resume_without_a_restore() {
    use streams::kafka::rdkafka::config::ClientConfig;
    use streams::kafka::rdkafka::consumer::{BaseConsumer, Consumer};
    let setup = Setup::new();
    let first = lines(100, 81);
    setup.produce(&first);
    let restores = Arc::new(Restores::default());
    let mut app = setup.instance(&state_dir(), &restores);
    app.start().unwrap();
    wait_idle(&app, QUIET, LIMIT);
    let restored_at_start = restores.1.lock().unwrap().clone();
    assert_eq!(restored_at_start.len(), 2, "one store in each of two tasks");

    let other = unique("other");
    setup.broker.create_topic(&other, 1).unwrap();
    let member: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", setup.broker.bootstrap_servers())
        .set("group.id", &setup.application_id)
        .set("partition.assignment.strategy", "range")
        .set("session.timeout.ms", "3000")
        .create()
        .unwrap();
    member.subscribe(&[&other]).unwrap();
    eventually("a rebalance for the new member", LIMIT, || {
        let _ = member.poll(Duration::from_millis(100));
        app.metrics().rebalances >= 1 && member.assignment().is_ok_and(|a| a.count() == 1)
    });
    drop(member);
    eventually("a rebalance for the member leaving", LIMIT, || {
        app.metrics().rebalances >= 2
    });
    let second = lines(100, 82);
    setup.produce(&second);
    wait_idle(&app, QUIET, LIMIT);
    assert_eq!(
        *restores.1.lock().unwrap(),
        restored_at_start,
        "no store restored after a rebalance"
    );
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    assert_eq!(
        snapshot_counts(&app.close().unwrap()),
        expected_counts(&all)
    );
}
