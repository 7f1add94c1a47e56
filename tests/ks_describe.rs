//! `Topology::describe()` parity with Kafka Streams: node names, the index sequence behind
//! generated names, sub-topology numbering and the order of nodes and of `-->` / `<--` lists.
//!
//! Three kinds of cases, each marked on the test:
//!
//! * **Ported**: a Kafka Streams unit test that pins `describe().toString()`; the expected text
//!   is the Java test's string, copied character for character (apache/kafka, `streams/src/test`,
//!   at commit 1eb7644349c).
//! * **Derived**: a Kafka Streams test (or the Kafka Streams docs) that names the nodes without
//!   pinning the whole text, or a topology built only from operators those tests pin. The node
//!   names follow Kafka Streams' DSL code (`KStreamImpl`, `KGroupedStreamImpl`,
//!   `GroupedStreamAggregateBuilder`, `BranchedKStreamImpl`, `InternalStreamsBuilder`, quoted in
//!   each case). The text was rendered by a copy of `InternalTopologyBuilder#describe` (node
//!   comparator, `updateSize`, `describeSubtopology`, `makeNodeGroups`, the `toString`s) run on a
//!   JVM with `java.util.HashMap`/`HashSet`/`TreeSet`; that copy reproduces, byte for byte, the
//!   pinned texts of RepartitionTopicNamingTest (unoptimized), StreamsGraphTest (merge),
//!   TopologyTest (stream-stream join), RepartitionWithMergeOptimizingTest (unoptimized) and
//!   KStreamImplTest#shouldSupportStreamTableJoinWithKStreamToKTable.
//! * The operators added with Kafka Streams' naming options (toTable, repartition, print,
//!   Grouped/Consumed/Produced names, split names) are at the end, in `naming_options`.

use streams::prelude::*;

/// Builds the topology and compares its description with Kafka Streams' text, printing both
/// verbatim on a mismatch (easier to read than `assert_eq!`'s escaped strings).
#[track_caller]
fn assert_describes(builder: StreamsBuilder, expected: &str) {
    let actual = builder
        .build()
        .expect("valid topology")
        .describe()
        .to_string();
    if actual != expected {
        panic!(
            "describe() differs from Kafka Streams\n----- expected\n{expected}----- actual\n{actual}-----"
        );
    }
}

fn strings(name: &'static str) -> Topic<String, String> {
    Topic::new(name)
}

// ---------------------------------------------------------------------------------------------
// Ported: TopologyTest
// ---------------------------------------------------------------------------------------------

// Ported from TopologyTest#kGroupedStreamZeroArgCountShouldPreserveTopologyStructure
//   builder.stream("input-topic").groupByKey().count();
// The store name takes index 1 before the aggregation takes 2.
#[test]
fn topology_test_k_grouped_stream_zero_arg_count_should_preserve_topology_structure() {
    let builder = StreamsBuilder::new();
    let _ = builder
        .stream(&strings("input-topic"))
        .group_by_key()
        .count();
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input-topic])
      --> KSTREAM-AGGREGATE-0000000002
    Processor: KSTREAM-AGGREGATE-0000000002 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000001])
      --> none
      <-- KSTREAM-SOURCE-0000000000

";
    assert_describes(builder, expected);
}

// Ported from TopologyTest#kGroupedStreamNamedMaterializedCountShouldPreserveTopologyStructure
//   builder.stream("input-topic").groupByKey()
//       .count(Materialized.as("count-store").withStoreType(Materialized.StoreType.IN_MEMORY));
// A named store takes no index.
#[test]
fn topology_test_k_grouped_stream_named_materialized_count_should_preserve_topology_structure() {
    let builder = StreamsBuilder::new();
    let _ = builder
        .stream(&strings("input-topic"))
        .group_by_key()
        .count_with(
            Materialized::<String, u64>::named("count-store").with_backend(StoreBackend::InMemory),
        );
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input-topic])
      --> KSTREAM-AGGREGATE-0000000001
    Processor: KSTREAM-AGGREGATE-0000000001 (stores: [count-store])
      --> none
      <-- KSTREAM-SOURCE-0000000000

";
    assert_describes(builder, expected);
}

// Ported from TopologyTest#kGroupedStreamAnonymousMaterializedCountShouldPreserveTopologyStructure
//   builder.stream("input-topic").groupByKey()
//       .count(Materialized.with(null, Serdes.Long()).withStoreType(Materialized.StoreType.ROCKS_DB));
// count(Materialized) with no store name burns one index (1) before the store name takes 2.
// (The store type does not show in describe(); the default backend stands in for ROCKS_DB.)
#[test]
fn topology_test_k_grouped_stream_anonymous_materialized_count_should_preserve_topology_structure()
{
    let builder = StreamsBuilder::new();
    let _ = builder
        .stream(&strings("input-topic"))
        .group_by_key()
        .count_with(Materialized::unnamed());
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input-topic])
      --> KSTREAM-AGGREGATE-0000000003
    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000002])
      --> none
      <-- KSTREAM-SOURCE-0000000000

";
    assert_describes(builder, expected);
}

// Ported from TopologyTest#kGroupedStreamAnonymousStoreTypedMaterializedCountShouldPreserveTopologyStructure
//   builder.stream("input-topic").groupByKey().count(Materialized.as(Materialized.StoreType.IN_MEMORY));
#[test]
fn topology_test_k_grouped_stream_anonymous_store_typed_materialized_count_should_preserve_topology_structure()
 {
    let builder = StreamsBuilder::new();
    let _ = builder
        .stream(&strings("input-topic"))
        .group_by_key()
        .count_with(Materialized::<String, u64>::unnamed().with_backend(StoreBackend::InMemory));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input-topic])
      --> KSTREAM-AGGREGATE-0000000003
    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000002])
      --> none
      <-- KSTREAM-SOURCE-0000000000

";
    assert_describes(builder, expected);
}

// Ported from TopologyTest#topologyWithStaticTopicNameExtractorShouldRespectEqualHashcodeContract
//   builder.stream("from-topic-name").to("to-topic-name");   // built twice, descriptions equal
// The Java test compares two TopologyDescription objects; the text of this two-node topology is
// certain (source 0, sink 1, Source/Sink toString as in every pinned text).
#[test]
fn topology_test_topology_with_static_topic_name_extractor_should_respect_equal_hashcode_contract()
{
    let build = || {
        let builder = StreamsBuilder::new();
        builder
            .stream(&strings("from-topic-name"))
            .to(&strings("to-topic-name"));
        builder
            .build()
            .expect("valid topology")
            .describe()
            .to_string()
    };
    assert_eq!(build(), build());
    let builder = StreamsBuilder::new();
    builder
        .stream(&strings("from-topic-name"))
        .to(&strings("to-topic-name"));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [from-topic-name])
      --> KSTREAM-SINK-0000000001
    Sink: KSTREAM-SINK-0000000001 (topic: to-topic-name)
      <-- KSTREAM-SOURCE-0000000000

";
    assert_describes(builder, expected);
}

// ---------------------------------------------------------------------------------------------
// Ported: KStreamImplTest (process with a Named node: the only DSL operator whose name takes no
// index, see KStreamImpl#process: `new NamedInternal(named).name()`)
// ---------------------------------------------------------------------------------------------

/// Forwards each value's length.
struct ValueLength;

impl Processor<String, String> for ValueLength {
    type KeyOut = String;
    type ValueOut = u64;

    fn process(
        &mut self,
        record: Record<String, String>,
        ctx: &mut ProcessorContext<'_, String, u64>,
    ) -> Result<(), ProcessError> {
        let length = record.value.len() as u64;
        ctx.forward(record.with_value(length))
    }
}

/// Adds each value's length to its key's total in the store "sum"; forwards nothing.
#[derive(Default)]
struct SumLengths {
    sums: Option<KeyValueStore<String, u64>>,
}

impl Processor<String, String> for SumLengths {
    type KeyOut = String;
    type ValueOut = String;

    fn init(&mut self, ctx: &mut InitContext<'_>) -> Result<(), ProcessError> {
        self.sums = Some(ctx.store("sum")?);
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<String, String>,
        _: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessError> {
        if let Some(sums) = self.sums.as_mut() {
            let sum = sums.get(&record.key)?.unwrap_or(0) + record.value.len() as u64;
            sums.put(&record.key, &sum)?;
        }
        Ok(())
    }
}

/// `SumLengths` as a processor function that declares its store (a supplier with `stores()`).
struct SumLengthsFunction;

impl ProcessorFunction<String, String> for SumLengthsFunction {
    type KeyOut = String;
    type Output = u64;
    type State = KeyValueStore<String, u64>;

    fn name(&self) -> &'static str {
        "p"
    }

    fn stores(&self) -> Vec<StoreSpec> {
        vec![<KeyValueStore<String, u64> as StateStore>::spec("sum")]
    }

    fn open(&self, ctx: &mut InitContext<'_>) -> Result<Self::State, ProcessError> {
        Ok(ctx.store("sum")?)
    }

    fn call(
        &self,
        sums: &mut Self::State,
        record: Record<String, String>,
        _: &mut ProcessorContext<'_, String, u64>,
    ) -> Result<(), ProcessError> {
        let sum = sums.get(&record.key)?.unwrap_or(0) + record.value.len() as u64;
        sums.put(&record.key, &sum)?;
        Ok(())
    }
}

// Ported from KStreamImplTest#shouldBindStateWithOldProcessor
//   builder.stream("input", consumed)
//       .process(() -> new ContextualProcessor<...>() { /* forward value length */ }, Named.as("p"))
//       .to("output", Produced.valueSerde(Serdes.Integer()));
// The named processor takes no index: the sink is 1.
#[test]
fn k_stream_impl_test_should_bind_state_with_old_processor() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&strings("input"))
        .process_with("p", || ValueLength, [])
        .to(&Topic::<String, u64>::new("output"));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
      --> p
    Processor: p (stores: [])
      --> KSTREAM-SINK-0000000001
      <-- KSTREAM-SOURCE-0000000000
    Sink: KSTREAM-SINK-0000000001 (topic: output)
      <-- p

";
    assert_describes(builder, expected);
}

// Ported from KStreamImplTest#shouldProcessWithOldProcessorAndState
//   builder.addStateStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore("sum"), ...));
//   builder.stream("input", consumed).process(() -> new Processor<...>() { /* sum lengths */ },
//       Named.as("p"), "sum");
#[test]
fn k_stream_impl_test_should_process_with_old_processor_and_state() {
    let builder = StreamsBuilder::new();
    let _ = builder.stream(&strings("input")).process_with(
        "p",
        SumLengths::default,
        [<KeyValueStore<String, u64> as StateStore>::spec("sum")],
    );
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
      --> p
    Processor: p (stores: [sum])
      --> none
      <-- KSTREAM-SOURCE-0000000000

";
    assert_describes(builder, expected);
}

// Ported from KStreamImplTest#shouldBindStateWithOldProcessorSupplier
//   builder.stream("input", consumed).process(new ProcessorSupplier<...>() {
//       get() { /* sum lengths */ }  stores() { /* inMemoryKeyValueStore("sum") */ } }, Named.as("p"));
#[test]
fn k_stream_impl_test_should_bind_state_with_old_processor_supplier() {
    let builder = StreamsBuilder::new();
    let _ = builder
        .stream(&strings("input"))
        .process(SumLengthsFunction);
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
      --> p
    Processor: p (stores: [sum])
      --> none
      <-- KSTREAM-SOURCE-0000000000

";
    assert_describes(builder, expected);
}

// ---------------------------------------------------------------------------------------------
// Ported: StreamsGraphTest
// ---------------------------------------------------------------------------------------------

// Ported from StreamsGraphTest#shouldOptimizeSeveralMergeNodesWithCommonKeyChangingParent
//   KStream<Integer, Integer> parentStream = builder.stream("input_topic", ...).selectKey(Integer::sum);
//   childStream1 = parentStream.mapValues(v -> v + 1);   // 2
//   childStream2 = parentStream.mapValues(v -> v + 2);   // 3
//   childStream3 = parentStream.mapValues(v -> v + 3);   // 4
//   childStream1.merge(childStream2).merge(childStream3).to("output_topic");
// Built with topology.optimization=all in Java; with no repartition topic there is nothing to
// optimize, so this is also the unoptimized text. Note the `<--` order of MERGE-6: the merge
// parent (size 3 when inserted) before MAPVALUES-4.
#[test]
fn streams_graph_test_should_optimize_several_merge_nodes_with_common_key_changing_parent() {
    let builder = StreamsBuilder::new();
    let parent = builder
        .stream(&strings("input_topic"))
        .select_key(|k: &String, v: &String| format!("{k}{v}"));
    let child1 = parent.clone().map_values(|v: String| v + "1");
    let child2 = parent.clone().map_values(|v: String| v + "2");
    let child3 = parent.map_values(|v: String| v + "3");
    child1
        .merge(child2)
        .merge(child3)
        .to(&strings("output_topic"));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input_topic])
      --> KSTREAM-KEY-SELECT-0000000001
    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])
      --> KSTREAM-MAPVALUES-0000000002, KSTREAM-MAPVALUES-0000000003, KSTREAM-MAPVALUES-0000000004
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-MAPVALUES-0000000002 (stores: [])
      --> KSTREAM-MERGE-0000000005
      <-- KSTREAM-KEY-SELECT-0000000001
    Processor: KSTREAM-MAPVALUES-0000000003 (stores: [])
      --> KSTREAM-MERGE-0000000005
      <-- KSTREAM-KEY-SELECT-0000000001
    Processor: KSTREAM-MAPVALUES-0000000004 (stores: [])
      --> KSTREAM-MERGE-0000000006
      <-- KSTREAM-KEY-SELECT-0000000001
    Processor: KSTREAM-MERGE-0000000005 (stores: [])
      --> KSTREAM-MERGE-0000000006
      <-- KSTREAM-MAPVALUES-0000000002, KSTREAM-MAPVALUES-0000000003
    Processor: KSTREAM-MERGE-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- KSTREAM-MERGE-0000000005, KSTREAM-MAPVALUES-0000000004
    Sink: KSTREAM-SINK-0000000007 (topic: output_topic)
      <-- KSTREAM-MERGE-0000000006

";
    assert_describes(builder, expected);
}

// ---------------------------------------------------------------------------------------------
// Derived: StreamsBuilderTest (names pinned by assertNamesForOperation, text rendered as above)
// ---------------------------------------------------------------------------------------------

// Derived from StreamsBuilderTest#shouldUseSpecifiedNameForMergeOperation
//   KStream source1 = builder.stream("topic-1");                // 0
//   KStream source2 = builder.stream("topic-2");                // 1
//   source1.merge(source2, Named.as("merge-processor"));         // (burns 2)
//   assertNamesForOperation(topology, "KSTREAM-SOURCE-0000000000", "KSTREAM-SOURCE-0000000001", "merge-processor");
#[test]
fn streams_builder_test_should_use_specified_name_for_merge_operation() {
    let builder = StreamsBuilder::new();
    let source1 = builder.stream(&strings("topic-1"));
    let source2 = builder.stream(&strings("topic-2"));
    let _ = source1.merge(source2).named("merge-processor");
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [topic-1])
      --> merge-processor
    Source: KSTREAM-SOURCE-0000000001 (topics: [topic-2])
      --> merge-processor
    Processor: merge-processor (stores: [])
      --> none
      <-- KSTREAM-SOURCE-0000000000, KSTREAM-SOURCE-0000000001

";
    assert_describes(builder, expected);
}

// Derived from StreamsBuilderTest#shouldUseSpecifiedNameForToStream
//   builder.table("stream-topic").toStream(Named.as("to-stream"));
//   assertNamesForOperation(topology, "KSTREAM-SOURCE-0000000001", "KTABLE-SOURCE-0000000002", "to-stream");
// builder.table(topic) names its store first ("stream-topic-STATE-STORE-0000000000": index 0) but
// does NOT materialize it unless something needs it (a Materialized name, a join, ...): the
// KTABLE-SOURCE node lists no store. Same in TopologyTest#kTableNonMaterialized*; and
// StreamsBuilderTest#shouldNotMaterializeStoresIfNotRequired counts 0 state stores.
#[test]
fn streams_builder_test_should_use_specified_name_for_to_stream() {
    let builder = StreamsBuilder::new();
    let _ = builder
        .table(&strings("stream-topic"))
        .to_stream()
        .named("to-stream");
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000001 (topics: [stream-topic])
      --> KTABLE-SOURCE-0000000002
    Processor: KTABLE-SOURCE-0000000002 (stores: [])
      --> to-stream
      <-- KSTREAM-SOURCE-0000000001
    Processor: to-stream (stores: [])
      --> none
      <-- KTABLE-SOURCE-0000000002

";
    assert_describes(builder, expected);
}

// Derived (table source): TopologyTest#kTableNonMaterializedFilterShouldPreserveTopologyStructure
// pins `table("input-topic")` as KSTREAM-SOURCE-1 / KTABLE-SOURCE-2 (stores: []); here followed by
//   .toStream().to("output");   // KTABLE-TOSTREAM-3 (KTableImpl#toStream), KSTREAM-SINK-4
#[test]
fn topology_test_k_table_non_materialized_source_to_stream_to_sink() {
    let builder = StreamsBuilder::new();
    builder
        .table(&strings("input-topic"))
        .to_stream()
        .to(&Topic::<String, Option<String>>::new("output"));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000001 (topics: [input-topic])
      --> KTABLE-SOURCE-0000000002
    Processor: KTABLE-SOURCE-0000000002 (stores: [])
      --> KTABLE-TOSTREAM-0000000003
      <-- KSTREAM-SOURCE-0000000001
    Processor: KTABLE-TOSTREAM-0000000003 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- KTABLE-SOURCE-0000000002
    Sink: KSTREAM-SINK-0000000004 (topic: output)
      <-- KTABLE-TOSTREAM-0000000003

";
    assert_describes(builder, expected);
}

// Derived: a Named operator still takes its index. KStreamImpl#filter names the node with
// `new NamedInternal(named).orElseGenerateWithPrefix(builder, FILTER_NAME)`, which calls
// `newProcessorName` even when a name is given ("we still need to burn index for the operation
// to keep topology backward compatibility"; NamedInternalTest#shouldSuffixNameOrReturnProviderValue:
// "1, not 0, indicates that the named call still burned an index number";
// StreamsBuilderTest#shouldUseSpecifiedNameForSinkProcessor: a named sink, then KSTREAM-SINK-0000000002).
// Same for map, mapValues, flatMap, flatMapValues, selectKey, peek, foreach, merge, split, print,
// to, toTable, toStream, count/reduce/aggregate and sources; only process/processValues (and
// Repartitioned names) take none.
//   builder.stream("in").filter((k, v) -> !v.isEmpty(), Named.as("drop-empty")).to("out");
#[test]
fn named_filter_still_takes_its_index() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&strings("in"))
        .filter(|_, v| !v.is_empty())
        .named("drop-empty")
        .to(&strings("out"));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [in])
      --> drop-empty
    Processor: drop-empty (stores: [])
      --> KSTREAM-SINK-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Sink: KSTREAM-SINK-0000000002 (topic: out)
      <-- drop-empty

";
    assert_describes(builder, expected);
}

// ---------------------------------------------------------------------------------------------
// Derived: branching (names as BranchedKStreamImpl: the splitter takes an index, each branch is
// `<splitter><n>` (n from 1, the default branch 0) and burns one index, as pinned in
// StreamsGraphTest#shouldNotThrowNPEWithMergeNodes: KSTREAM-BRANCH-0000000027,
// KSTREAM-BRANCH-00000000271, KSTREAM-MAP-0000000029, ..., KSTREAM-BRANCH-00000000270)
// ---------------------------------------------------------------------------------------------

// Derived: split with two predicates and a default branch, each to a sink.
//   Map<String, KStream<String, String>> b = builder.stream("numbers").split()
//       .branch((k, v) -> v.startsWith("-"))        // KSTREAM-BRANCH-00000000011 (burns 2)
//       .branch((k, v) -> v.equals("0"))            // KSTREAM-BRANCH-00000000012 (burns 3)
//       .defaultBranch();                           // KSTREAM-BRANCH-00000000010 (burns 4)
//   b.get("KSTREAM-BRANCH-00000000011").to("negative");   // 5
//   b.get("KSTREAM-BRANCH-00000000012").to("zero");       // 6
//   b.get("KSTREAM-BRANCH-00000000010").to("positive");   // 7
#[test]
fn split_with_default_branch_to_sinks() {
    let builder = StreamsBuilder::new();
    let branches = builder
        .stream(&strings("numbers"))
        .split()
        .branch(|_, v| v.starts_with('-'))
        .branch(|_, v| v == "0")
        .default_branch();
    let [negative, zero, positive]: [KStream<String, String>; 3] =
        branches.try_into().expect("three branches");
    negative.to(&strings("negative"));
    zero.to(&strings("zero"));
    positive.to(&strings("positive"));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [numbers])
      --> KSTREAM-BRANCH-0000000001
    Processor: KSTREAM-BRANCH-0000000001 (stores: [])
      --> KSTREAM-BRANCH-00000000010, KSTREAM-BRANCH-00000000011, KSTREAM-BRANCH-00000000012
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-BRANCH-00000000010 (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- KSTREAM-BRANCH-0000000001
    Processor: KSTREAM-BRANCH-00000000011 (stores: [])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-BRANCH-0000000001
    Processor: KSTREAM-BRANCH-00000000012 (stores: [])
      --> KSTREAM-SINK-0000000006
      <-- KSTREAM-BRANCH-0000000001
    Sink: KSTREAM-SINK-0000000005 (topic: negative)
      <-- KSTREAM-BRANCH-00000000011
    Sink: KSTREAM-SINK-0000000006 (topic: zero)
      <-- KSTREAM-BRANCH-00000000012
    Sink: KSTREAM-SINK-0000000007 (topic: positive)
      <-- KSTREAM-BRANCH-00000000010

";
    assert_describes(builder, expected);
}

// Derived: split without default branch; one branch mapped and merged with the other, which
// also feeds a filter. Successor/predecessor lists of the branch nodes and the merge are
// TreeSet orders that depend on the HashMap walk (here `12` before `11`).
//   Map<String, KStream<String, String>> b = builder.stream("in").split()
//       .branch((k, v) -> v.startsWith("a"))        // ...11 (burns 2)
//       .branch((k, v) -> v.startsWith("b"))        // ...12 (burns 3)
//       .noDefaultBranch();
//   KStream<String, String> a = b.get("KSTREAM-BRANCH-00000000011"), bb = b.get("KSTREAM-BRANCH-00000000012");
//   a.mapValues(v -> v.toUpperCase()).merge(bb).to("out");   // MAPVALUES-4, MERGE-5, SINK-6
//   bb.filter((k, v) -> !v.isEmpty()).to("side");             // FILTER-7, SINK-8
#[test]
fn split_without_default_branch_merge_and_fan_out() {
    let builder = StreamsBuilder::new();
    let branches = builder
        .stream(&strings("in"))
        .split()
        .branch(|_, v| v.starts_with('a'))
        .branch(|_, v| v.starts_with('b'))
        .no_default_branch();
    let [a, b]: [KStream<String, String>; 2] = branches.try_into().expect("two branches");
    a.map_values(|v: String| v.to_uppercase())
        .merge(b.clone())
        .to(&strings("out"));
    b.filter(|_, v| !v.is_empty()).to(&strings("side"));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [in])
      --> KSTREAM-BRANCH-0000000001
    Processor: KSTREAM-BRANCH-0000000001 (stores: [])
      --> KSTREAM-BRANCH-00000000012, KSTREAM-BRANCH-00000000011
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-BRANCH-00000000012 (stores: [])
      --> KSTREAM-FILTER-0000000007, KSTREAM-MERGE-0000000005
      <-- KSTREAM-BRANCH-0000000001
    Processor: KSTREAM-BRANCH-00000000011 (stores: [])
      --> KSTREAM-MAPVALUES-0000000004
      <-- KSTREAM-BRANCH-0000000001
    Processor: KSTREAM-MAPVALUES-0000000004 (stores: [])
      --> KSTREAM-MERGE-0000000005
      <-- KSTREAM-BRANCH-00000000011
    Processor: KSTREAM-FILTER-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- KSTREAM-BRANCH-00000000012
    Processor: KSTREAM-MERGE-0000000005 (stores: [])
      --> KSTREAM-SINK-0000000006
      <-- KSTREAM-BRANCH-00000000012, KSTREAM-MAPVALUES-0000000004
    Sink: KSTREAM-SINK-0000000006 (topic: out)
      <-- KSTREAM-MERGE-0000000005
    Sink: KSTREAM-SINK-0000000008 (topic: side)
      <-- KSTREAM-FILTER-0000000007

";
    assert_describes(builder, expected);
}

// Derived: one node with three successors of different sizes (TreeSet order by subtree size, then
// name, as the sizes were when each was inserted: FILTER-3, KEY-SELECT-6, FOREACH-5).
//   KStream<String, String> peeked = builder.stream("events")
//       .flatMap((k, v) -> List.of(KeyValue.pair(k, v), KeyValue.pair(v, k)))   // 1
//       .peek((k, v) -> { });                                                   // 2
//   peeked.filterNot((k, v) -> v.isEmpty()).to("kept");                         // 3, 4
//   peeked.foreach((k, v) -> { });                                              // 5
//   peeked.selectKey((k, v) -> v).to("rekeyed");                                // 6, 7
#[test]
fn flat_map_peek_fan_out_to_filter_not_foreach_and_select_key() {
    let builder = StreamsBuilder::new();
    let peeked = builder
        .stream(&strings("events"))
        .flat_map(|k: String, v: String| vec![(k.clone(), v.clone()), (v, k)])
        .peek(|_, _| {});
    peeked
        .clone()
        .filter_not(|_, v| v.is_empty())
        .to(&strings("kept"));
    peeked.clone().foreach(|_, _| {});
    peeked
        .select_key(|_, v: &String| v.clone())
        .to(&strings("rekeyed"));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [events])
      --> KSTREAM-FLATMAP-0000000001
    Processor: KSTREAM-FLATMAP-0000000001 (stores: [])
      --> KSTREAM-PEEK-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-PEEK-0000000002 (stores: [])
      --> KSTREAM-FILTER-0000000003, KSTREAM-KEY-SELECT-0000000006, KSTREAM-FOREACH-0000000005
      <-- KSTREAM-FLATMAP-0000000001
    Processor: KSTREAM-FILTER-0000000003 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- KSTREAM-PEEK-0000000002
    Processor: KSTREAM-KEY-SELECT-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- KSTREAM-PEEK-0000000002
    Processor: KSTREAM-FOREACH-0000000005 (stores: [])
      --> none
      <-- KSTREAM-PEEK-0000000002
    Sink: KSTREAM-SINK-0000000004 (topic: kept)
      <-- KSTREAM-FILTER-0000000003
    Sink: KSTREAM-SINK-0000000007 (topic: rekeyed)
      <-- KSTREAM-KEY-SELECT-0000000006

";
    assert_describes(builder, expected);
}

// ---------------------------------------------------------------------------------------------
// Derived: aggregations behind repartition topics. Order of indices (KGroupedStreamImpl,
// GroupedStreamAggregateBuilder, KStreamImpl#createRepartitionedSource): [count(Materialized
// without name) burns one], store name, aggregation node, then repartition sink, filter, source
// (three indices always taken). A prefix matching "KSTREAM.*-[0-9]{10}" (a generated store name)
// keeps the generated node names; any other prefix gives <topic>-sink/-filter/-source.
// ---------------------------------------------------------------------------------------------

// Derived: groupBy + count() with a generated store name (compare the tutorial's WordCount).
//   builder.stream("text-lines")
//       .flatMapValues(v -> Arrays.asList(v.split(" ")))   // 1
//       .groupBy((k, w) -> w)                              // KEY-SELECT-2
//       .count()                                           // store 3, AGGREGATE-4, sink 5, filter 6, source 7
//       .toStream().to("word-counts");                     // 8, 9
#[test]
fn group_by_count_with_generated_store_name_repartitions_with_generated_names() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&strings("text-lines"))
        .flat_map_values(|line: String| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .group_by(|_, word: &String| word.clone())
        .count()
        .to_stream()
        .to(&Topic::<String, Option<u64>>::new("word-counts"));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [text-lines])
      --> KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])
      --> KSTREAM-KEY-SELECT-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
      --> KSTREAM-FILTER-0000000006
      <-- KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FILTER-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-KEY-SELECT-0000000002
    Sink: KSTREAM-SINK-0000000005 (topic: KSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition)
      <-- KSTREAM-FILTER-0000000006

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000007 (topics: [KSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition])
      --> KSTREAM-AGGREGATE-0000000004
    Processor: KSTREAM-AGGREGATE-0000000004 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000003])
      --> KTABLE-TOSTREAM-0000000008
      <-- KSTREAM-SOURCE-0000000007
    Processor: KTABLE-TOSTREAM-0000000008 (stores: [])
      --> KSTREAM-SINK-0000000009
      <-- KSTREAM-AGGREGATE-0000000004
    Sink: KSTREAM-SINK-0000000009 (topic: word-counts)
      <-- KTABLE-TOSTREAM-0000000008

";
    assert_describes(builder, expected);
}

// Derived: as above with count(Materialized.with(...)) (no store name): one more index burned
// before the store name (TopologyTest#kGroupedStreamAnonymousMaterializedCount...).
//   ....groupBy((k, w) -> w).count(Materialized.with(Serdes.String(), Serdes.Long()))
//   // burn 3, store 4, AGGREGATE-5, sink 6, filter 7, source 8, TOSTREAM-9, SINK-10
#[test]
fn group_by_count_materialized_without_name_burns_one_more_index() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&strings("text-lines"))
        .flat_map_values(|line: String| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .group_by(|_, word: &String| word.clone())
        .count_with(Materialized::unnamed())
        .to_stream()
        .to(&Topic::<String, Option<u64>>::new("word-counts"));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [text-lines])
      --> KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])
      --> KSTREAM-KEY-SELECT-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
      --> KSTREAM-FILTER-0000000007
      <-- KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FILTER-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000006
      <-- KSTREAM-KEY-SELECT-0000000002
    Sink: KSTREAM-SINK-0000000006 (topic: KSTREAM-AGGREGATE-STATE-STORE-0000000004-repartition)
      <-- KSTREAM-FILTER-0000000007

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000008 (topics: [KSTREAM-AGGREGATE-STATE-STORE-0000000004-repartition])
      --> KSTREAM-AGGREGATE-0000000005
    Processor: KSTREAM-AGGREGATE-0000000005 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000004])
      --> KTABLE-TOSTREAM-0000000009
      <-- KSTREAM-SOURCE-0000000008
    Processor: KTABLE-TOSTREAM-0000000009 (stores: [])
      --> KSTREAM-SINK-0000000010
      <-- KSTREAM-AGGREGATE-0000000005
    Sink: KSTREAM-SINK-0000000010 (topic: word-counts)
      <-- KTABLE-TOSTREAM-0000000009

";
    assert_describes(builder, expected);
}

// Derived: a key-changing map feeding both a sink and a groupByKey().reduce(); MAP-1 lists the
// repartition filter (subtree of 2) before its own sink.
//   KStream<String, String> mapped = builder.stream("in").map((k, v) -> KeyValue.pair(v, k));   // 1
//   mapped.to("mapped");                                                                    // 2
//   mapped.groupByKey().reduce((a, b) -> a + b)   // store KSTREAM-REDUCE-STATE-STORE-3, REDUCE-4, 5, 6, 7
//       .toStream().to("reduced");                // 8, 9
#[test]
fn map_to_sink_and_group_by_key_reduce() {
    let builder = StreamsBuilder::new();
    let mapped = builder
        .stream(&strings("in"))
        .map(|k: String, v: String| (v, k));
    mapped.clone().to(&strings("mapped"));
    mapped
        .group_by_key()
        .reduce(|a: String, b: String| a + &b)
        .to_stream()
        .to(&Topic::<String, Option<String>>::new("reduced"));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [in])
      --> KSTREAM-MAP-0000000001
    Processor: KSTREAM-MAP-0000000001 (stores: [])
      --> KSTREAM-FILTER-0000000006, KSTREAM-SINK-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-FILTER-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-MAP-0000000001
    Sink: KSTREAM-SINK-0000000002 (topic: mapped)
      <-- KSTREAM-MAP-0000000001
    Sink: KSTREAM-SINK-0000000005 (topic: KSTREAM-REDUCE-STATE-STORE-0000000003-repartition)
      <-- KSTREAM-FILTER-0000000006

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000007 (topics: [KSTREAM-REDUCE-STATE-STORE-0000000003-repartition])
      --> KSTREAM-REDUCE-0000000004
    Processor: KSTREAM-REDUCE-0000000004 (stores: [KSTREAM-REDUCE-STATE-STORE-0000000003])
      --> KTABLE-TOSTREAM-0000000008
      <-- KSTREAM-SOURCE-0000000007
    Processor: KTABLE-TOSTREAM-0000000008 (stores: [])
      --> KSTREAM-SINK-0000000009
      <-- KSTREAM-REDUCE-0000000004
    Sink: KSTREAM-SINK-0000000009 (topic: reduced)
      <-- KTABLE-TOSTREAM-0000000008

";
    assert_describes(builder, expected);
}

// Derived (modelled on RepartitionTopicNamingTest#shouldNotReuseRepartitionNodeWithUnnamedRepartitionTopics,
// which asserts two repartition topics for two aggregations of one unnamed KGroupedStream):
//   KGroupedStream<String, String> grouped = builder.stream("topic").selectKey((k, v) -> k).groupByKey();  // 1
//   grouped.count().toStream().to("output-one");            // store 2, AGG-3, 4, 5, 6, TOSTREAM-7, SINK-8
//   grouped.aggregate(() -> "", (k, v, agg) -> agg + v)     // store 9, AGG-10, 11, 12, 13
//       .toStream().to("output-two");                       // TOSTREAM-14, SINK-15
// Three sub-topologies, numbered by where their first node was added.
#[test]
fn two_aggregations_of_one_grouped_stream_repartition_twice() {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream(&strings("topic"))
        .select_key(|k: &String, _: &String| k.clone())
        .group_by_key();
    grouped
        .clone()
        .count()
        .to_stream()
        .to(&Topic::<String, Option<u64>>::new("output-one"));
    grouped
        .aggregate(String::new, |_: &String, v: String, agg: String| agg + &v)
        .to_stream()
        .to(&Topic::<String, Option<String>>::new("output-two"));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [topic])
      --> KSTREAM-KEY-SELECT-0000000001
    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])
      --> KSTREAM-FILTER-0000000005, KSTREAM-FILTER-0000000012
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-FILTER-0000000005 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- KSTREAM-KEY-SELECT-0000000001
    Processor: KSTREAM-FILTER-0000000012 (stores: [])
      --> KSTREAM-SINK-0000000011
      <-- KSTREAM-KEY-SELECT-0000000001
    Sink: KSTREAM-SINK-0000000004 (topic: KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition)
      <-- KSTREAM-FILTER-0000000005
    Sink: KSTREAM-SINK-0000000011 (topic: KSTREAM-AGGREGATE-STATE-STORE-0000000009-repartition)
      <-- KSTREAM-FILTER-0000000012

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000006 (topics: [KSTREAM-AGGREGATE-STATE-STORE-0000000002-repartition])
      --> KSTREAM-AGGREGATE-0000000003
    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000002])
      --> KTABLE-TOSTREAM-0000000007
      <-- KSTREAM-SOURCE-0000000006
    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- KSTREAM-AGGREGATE-0000000003
    Sink: KSTREAM-SINK-0000000008 (topic: output-one)
      <-- KTABLE-TOSTREAM-0000000007

  Sub-topology: 2
    Source: KSTREAM-SOURCE-0000000013 (topics: [KSTREAM-AGGREGATE-STATE-STORE-0000000009-repartition])
      --> KSTREAM-AGGREGATE-0000000010
    Processor: KSTREAM-AGGREGATE-0000000010 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000009])
      --> KTABLE-TOSTREAM-0000000014
      <-- KSTREAM-SOURCE-0000000013
    Processor: KTABLE-TOSTREAM-0000000014 (stores: [])
      --> KSTREAM-SINK-0000000015
      <-- KSTREAM-AGGREGATE-0000000010
    Sink: KSTREAM-SINK-0000000015 (topic: output-two)
      <-- KTABLE-TOSTREAM-0000000014

";
    assert_describes(builder, expected);
}

// ---------------------------------------------------------------------------------------------
// Derived: docs/streams/developer-guide/dsl-topology-naming.html (the docs print the text with
// tabs; names are the docs', whitespace is describe()'s)
// ---------------------------------------------------------------------------------------------

// Derived from dsl-topology-naming.html, "add a filter to keep some of the records out":
//   builder.stream("input").filter((k, v) -> v != null && v.length() >= 6)
//       .groupByKey().count().toStream().to("output");
#[test]
fn dsl_topology_naming_doc_filter_then_count_shifts_the_store_name() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&strings("input"))
        .filter(|_, v| v.len() >= 6)
        .group_by_key()
        .count()
        .to_stream()
        .to(&Topic::<String, Option<u64>>::new("output"));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
      --> KSTREAM-FILTER-0000000001
    Processor: KSTREAM-FILTER-0000000001 (stores: [])
      --> KSTREAM-AGGREGATE-0000000003
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000002])
      --> KTABLE-TOSTREAM-0000000004
      <-- KSTREAM-FILTER-0000000001
    Processor: KTABLE-TOSTREAM-0000000004 (stores: [])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-AGGREGATE-0000000003
    Sink: KSTREAM-SINK-0000000005 (topic: output)
      <-- KTABLE-TOSTREAM-0000000004

";
    assert_describes(builder, expected);
}

// Derived from dsl-topology-naming.html, "giving a specific name to your state store":
//   builder.stream("input").filter((k, v) -> v != null && v.length() >= 6)
//       .groupByKey().count(Materialized.as("Purchase_count_store")).toStream().to("output");
#[test]
fn dsl_topology_naming_doc_named_store_keeps_its_name() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&strings("input"))
        .filter(|_, v| v.len() >= 6)
        .group_by_key()
        .count_with(Materialized::named("Purchase_count_store"))
        .to_stream()
        .to(&Topic::<String, Option<u64>>::new("output"));
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
      --> KSTREAM-FILTER-0000000001
    Processor: KSTREAM-FILTER-0000000001 (stores: [])
      --> KSTREAM-AGGREGATE-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-AGGREGATE-0000000002 (stores: [Purchase_count_store])
      --> KTABLE-TOSTREAM-0000000003
      <-- KSTREAM-FILTER-0000000001
    Processor: KTABLE-TOSTREAM-0000000003 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- KSTREAM-AGGREGATE-0000000002
    Sink: KSTREAM-SINK-0000000004 (topic: output)
      <-- KTABLE-TOSTREAM-0000000003

";
    assert_describes(builder, expected);
}

// =============================================================================================
// toTable, repartition, print, and the naming options: Grouped, Consumed, Produced, Named on
// count/toStream/mapValues, split(Named) with Branched names.
// =============================================================================================

mod naming_options {
    use super::*;

    // toTable(). Ported from KStreamImplTest#shouldNotMaterializedKTableFromKStream
    //   builder.stream("input", consumed).toTable().toStream().to("output");
    // TOTABLE-1, its (unmaterialized) store name burns 2, TOSTREAM-3, SINK-4.
    #[test]
    fn k_stream_impl_test_should_not_materialized_k_table_from_k_stream() {
        let builder = StreamsBuilder::new();
        builder
            .stream(&strings("input"))
            .to_table()
            .to_stream()
            .to(&Topic::<String, Option<String>>::new("output"));
        let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
      --> KSTREAM-TOTABLE-0000000001
    Processor: KSTREAM-TOTABLE-0000000001 (stores: [])
      --> KTABLE-TOSTREAM-0000000003
      <-- KSTREAM-SOURCE-0000000000
    Processor: KTABLE-TOSTREAM-0000000003 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- KSTREAM-TOTABLE-0000000001
    Sink: KSTREAM-SINK-0000000004 (topic: output)
      <-- KTABLE-TOSTREAM-0000000003

";
        assert_describes(builder, expected);
    }

    // toTable() after a key change. Ported from KStreamImplTest#shouldSupportKeyChangeKTableFromKStream
    //   builder.stream("input", consumed).map((key, value) -> new KeyValue<>(key.charAt(0) - 'A', value))
    //       .toTable(Materialized.with(Serdes.Integer(), null)).toStream().to("output");
    // MAP-1, TOTABLE-2, store name 3, then sink 4, filter 5, source 6 named after the TOTABLE node.
    #[test]
    fn k_stream_impl_test_should_support_key_change_k_table_from_k_stream() {
        let builder = StreamsBuilder::new();
        builder
            .stream(&strings("input"))
            .map(|k: String, v: String| (k[..1].to_owned(), v))
            // `Materialized.with(serdes)` only sets serdes, which are types here: `to_table()`.
            .to_table()
            .to_stream()
            .to(&Topic::<String, Option<String>>::new("output"));
        let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
      --> KSTREAM-MAP-0000000001
    Processor: KSTREAM-MAP-0000000001 (stores: [])
      --> KSTREAM-FILTER-0000000005
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-FILTER-0000000005 (stores: [])
      --> KSTREAM-SINK-0000000004
      <-- KSTREAM-MAP-0000000001
    Sink: KSTREAM-SINK-0000000004 (topic: KSTREAM-TOTABLE-0000000002-repartition)
      <-- KSTREAM-FILTER-0000000005

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000006 (topics: [KSTREAM-TOTABLE-0000000002-repartition])
      --> KSTREAM-TOTABLE-0000000002
    Processor: KSTREAM-TOTABLE-0000000002 (stores: [])
      --> KTABLE-TOSTREAM-0000000007
      <-- KSTREAM-SOURCE-0000000006
    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- KSTREAM-TOTABLE-0000000002
    Sink: KSTREAM-SINK-0000000008 (topic: output)
      <-- KTABLE-TOSTREAM-0000000007

";
        assert_describes(builder, expected);
    }

    // toTable(Materialized named). Ported from KStreamImplTest#shouldMaterializeKTableFromKStream
    //   builder.stream("input", consumed).toTable(Materialized.as(Stores.inMemoryKeyValueStore("store")));
    #[test]
    fn k_stream_impl_test_should_materialize_k_table_from_k_stream() {
        let builder = StreamsBuilder::new();
        let _ = builder
            .stream(&strings("input"))
            .to_table_with(Materialized::named("store").with_backend(StoreBackend::InMemory));
        let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [input])
      --> KSTREAM-TOTABLE-0000000001
    Processor: KSTREAM-TOTABLE-0000000001 (stores: [store])
      --> none
      <-- KSTREAM-SOURCE-0000000000

";
        assert_describes(builder, expected);
    }

    // Consumed/Produced names, Named on map/merge/count/toStream/mapValues, Grouped.as.
    // Ported from RepartitionWithMergeOptimizingTest#shouldSendCorrectResults_NO_OPTIMIZATION
    //   KStream<String, String> sourceAStream = builder.stream("inputA", Consumed.with(...).withName("sourceAStream"));
    //   KStream<String, String> sourceBStream = builder.stream("inputB", Consumed.with(...).withName("sourceBStream"));
    //   KStream<String, String> mappedAStream = sourceAStream.map((k, v) -> KeyValue.pair(v.split(":")[0], v), Named.as("mappedAStream"));
    //   KStream<String, String> mappedBStream = sourceBStream.map((k, v) -> KeyValue.pair(v.split(":")[0], v), Named.as("mappedBStream"));
    //   KStream<String, String> mergedStream = mappedAStream.merge(mappedBStream, Named.as("mergedStream"));
    //   mergedStream.groupByKey(Grouped.as("long-groupByKey"))
    //       .count(Named.as("long-count"), Materialized.as(Stores.inMemoryKeyValueStore("long-store")))
    //       .toStream(Named.as("long-toStream"))
    //       .to("outputTopic_0", Produced.with(Serdes.String(), Serdes.Long()).withName("long-to"));
    //   mergedStream.groupByKey(Grouped.as("string-groupByKey"))
    //       .count(Named.as("string-count"), Materialized.as(Stores.inMemoryKeyValueStore("string-store")))
    //       .toStream(Named.as("string-toStream"))
    //       .mapValues(v -> v.toString(), Named.as("string-mapValues"))
    //       .to("outputTopic_1", Produced.with(Serdes.String(), Serdes.String()).withName("string-to"));
    #[test]
    fn repartition_with_merge_optimizing_test_should_send_correct_results_no_optimization() {
        let builder = StreamsBuilder::new();
        let a = builder
            .stream_with(&strings("inputA"), Consumed::named("sourceAStream"))
            .map(|_, v: String| (v.split(':').next().unwrap_or("").to_owned(), v))
            .named("mappedAStream");
        let b = builder
            .stream_with(&strings("inputB"), Consumed::named("sourceBStream"))
            .map(|_, v: String| (v.split(':').next().unwrap_or("").to_owned(), v))
            .named("mappedBStream");
        let merged = a.merge(b).named("mergedStream");
        merged
            .clone()
            .group_by_key_with(Grouped::named("long-groupByKey"))
            .count_with(Materialized::named("long-store").with_backend(StoreBackend::InMemory))
            .named("long-count")
            .to_stream()
            .named("long-toStream")
            .to_with(
                &Topic::<String, Option<u64>>::new("outputTopic_0"),
                Produced::named("long-to"),
            );
        merged
            .group_by_key_with(Grouped::named("string-groupByKey"))
            .count_with(Materialized::named("string-store").with_backend(StoreBackend::InMemory))
            .named("string-count")
            .to_stream()
            .named("string-toStream")
            .map_values(|v: Option<u64>| v.unwrap_or_default().to_string())
            .named("string-mapValues")
            .to_with(&strings("outputTopic_1"), Produced::named("string-to"));
        let expected = "\
Topologies:
   Sub-topology: 0
    Source: sourceAStream (topics: [inputA])
      --> mappedAStream
    Source: sourceBStream (topics: [inputB])
      --> mappedBStream
    Processor: mappedAStream (stores: [])
      --> mergedStream
      <-- sourceAStream
    Processor: mappedBStream (stores: [])
      --> mergedStream
      <-- sourceBStream
    Processor: mergedStream (stores: [])
      --> long-groupByKey-repartition-filter, string-groupByKey-repartition-filter
      <-- mappedAStream, mappedBStream
    Processor: long-groupByKey-repartition-filter (stores: [])
      --> long-groupByKey-repartition-sink
      <-- mergedStream
    Processor: string-groupByKey-repartition-filter (stores: [])
      --> string-groupByKey-repartition-sink
      <-- mergedStream
    Sink: long-groupByKey-repartition-sink (topic: long-groupByKey-repartition)
      <-- long-groupByKey-repartition-filter
    Sink: string-groupByKey-repartition-sink (topic: string-groupByKey-repartition)
      <-- string-groupByKey-repartition-filter

  Sub-topology: 1
    Source: long-groupByKey-repartition-source (topics: [long-groupByKey-repartition])
      --> long-count
    Processor: long-count (stores: [long-store])
      --> long-toStream
      <-- long-groupByKey-repartition-source
    Processor: long-toStream (stores: [])
      --> long-to
      <-- long-count
    Sink: long-to (topic: outputTopic_0)
      <-- long-toStream

  Sub-topology: 2
    Source: string-groupByKey-repartition-source (topics: [string-groupByKey-repartition])
      --> string-count
    Processor: string-count (stores: [string-store])
      --> string-toStream
      <-- string-groupByKey-repartition-source
    Processor: string-toStream (stores: [])
      --> string-mapValues
      <-- string-count
    Processor: string-mapValues (stores: [])
      --> string-to
      <-- string-toStream
    Sink: string-to (topic: outputTopic_1)
      <-- string-mapValues

";
        assert_describes(builder, expected);
    }

    // Produced.as. Derived from StreamsBuilderTest#shouldUseSpecifiedNameForSinkProcessor
    //   KStream<Object, Object> stream = builder.stream("stream-topic");
    //   stream.to("stream-topic-two", Produced.as("sink-processor"));   // burns 1
    //   stream.to("stream-topic-two");                                 // 2
    //   assertNamesForOperation(topology, "KSTREAM-SOURCE-0000000000", "sink-processor", "KSTREAM-SINK-0000000002");
    #[test]
    fn streams_builder_test_should_use_specified_name_for_sink_processor() {
        let builder = StreamsBuilder::new();
        let stream = builder.stream(&strings("stream-topic"));
        stream.clone().to_with(
            &strings("stream-topic-two"),
            Produced::named("sink-processor"),
        );
        stream.to(&strings("stream-topic-two"));
        let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [stream-topic])
      --> KSTREAM-SINK-0000000002, sink-processor
    Sink: KSTREAM-SINK-0000000002 (topic: stream-topic-two)
      <-- KSTREAM-SOURCE-0000000000
    Sink: sink-processor (topic: stream-topic-two)
      <-- KSTREAM-SOURCE-0000000000

";
        assert_describes(builder, expected);
    }

    // Consumed.as. Derived from StreamsBuilderTest#shouldUseSpecifiedNameForStreamSourceProcessor
    //   builder.stream("stream-topic", Consumed.as("source-node"));   // burns 0
    //   builder.stream("stream-topic-two");                          // 1
    //   assertNamesForOperation(topology, "source-node", "KSTREAM-SOURCE-0000000001");
    #[test]
    fn streams_builder_test_should_use_specified_name_for_stream_source_processor() {
        let builder = StreamsBuilder::new();
        let _ = builder.stream_with(&strings("stream-topic"), Consumed::named("source-node"));
        let _ = builder.stream(&strings("stream-topic-two"));
        let expected = "\
Topologies:
   Sub-topology: 0
    Source: source-node (topics: [stream-topic])
      --> none

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000001 (topics: [stream-topic-two])
      --> none

";
        assert_describes(builder, expected);
    }

    // print(Printed.withName). Derived from StreamsBuilderTest#shouldUseSpecifiedNameForPrintOperation
    //   builder.stream("stream-topic").print(Printed.toSysOut().withName("print-processor"));
    //   assertNamesForOperation(topology, "KSTREAM-SOURCE-0000000000", "print-processor");
    #[test]
    fn streams_builder_test_should_use_specified_name_for_print_operation() {
        let builder = StreamsBuilder::new();
        builder
            .stream(&strings("stream-topic"))
            .print(Printed::to_stdout().with_name("print-processor"));
        let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [stream-topic])
      --> print-processor
    Processor: print-processor (stores: [])
      --> none
      <-- KSTREAM-SOURCE-0000000000

";
        assert_describes(builder, expected);
    }

    // print(). Derived: KStreamImpl#print names the node with PRINTING_NAME = "KSTREAM-PRINTER-".
    //   builder.stream("in").print(Printed.toSysOut());
    #[test]
    fn print_takes_a_generated_printer_name() {
        let builder = StreamsBuilder::new();
        builder.stream(&strings("in")).print(Printed::to_stdout());
        let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [in])
      --> KSTREAM-PRINTER-0000000001
    Processor: KSTREAM-PRINTER-0000000001 (stores: [])
      --> none
      <-- KSTREAM-SOURCE-0000000000

";
        assert_describes(builder, expected);
    }

    // split(Named.as) (and Branched.as branch names). Derived from
    // StreamsBuilderTest#shouldUseSpecifiedNameForSplitOperation
    //   builder.stream("stream-topic").split(Named.as("branch-processor"))
    //       .branch((k, v) -> true, Branched.as("-1"))
    //       .branch((k, v) -> false, Branched.as("-2"));
    //   assertNamesForOperation(topology, "KSTREAM-SOURCE-0000000000", "branch-processor",
    //       "branch-processor-1", "branch-processor-2");
    #[test]
    fn streams_builder_test_should_use_specified_name_for_split_operation() {
        let builder = StreamsBuilder::new();
        builder
            .stream(&strings("stream-topic"))
            .split_named("branch-processor")
            .branch_named(|_, _| true, "-1")
            .branch_named(|_, _| false, "-2")
            .no_default_branch();
        let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [stream-topic])
      --> branch-processor
    Processor: branch-processor (stores: [])
      --> branch-processor-1, branch-processor-2
      <-- KSTREAM-SOURCE-0000000000
    Processor: branch-processor-1 (stores: [])
      --> none
      <-- branch-processor
    Processor: branch-processor-2 (stores: [])
      --> none
      <-- branch-processor

";
        assert_describes(builder, expected);
    }

    // Consumed.as, Named.as, Produced.as. Derived from dsl-topology-naming.html
    //   KStream<String, String> stream = builder.stream("input", Consumed.as("Customer_transactions_input_topic"));
    //   stream.filter((k, v) -> !v.equals("invalid_txn"), Named.as("filter_out_invalid_txns"))
    //         .mapValues((v) -> v.substring(0, 5), Named.as("Map_values_to_first_6_characters"))
    //         .to("output", Produced.as("Mapped_transactions_output_topic"));
    #[test]
    fn dsl_topology_naming_doc_all_processors_named() {
        let builder = StreamsBuilder::new();
        builder
            .stream_with(
                &strings("input"),
                Consumed::named("Customer_transactions_input_topic"),
            )
            .filter(|_, v| v != "invalid_txn")
            .named("filter_out_invalid_txns")
            .map_values(|v: String| v.chars().take(5).collect::<String>())
            .named("Map_values_to_first_6_characters")
            .to_with(
                &strings("output"),
                Produced::named("Mapped_transactions_output_topic"),
            );
        let expected = "\
Topologies:
   Sub-topology: 0
    Source: Customer_transactions_input_topic (topics: [input])
      --> filter_out_invalid_txns
    Processor: filter_out_invalid_txns (stores: [])
      --> Map_values_to_first_6_characters
      <-- Customer_transactions_input_topic
    Processor: Map_values_to_first_6_characters (stores: [])
      --> Mapped_transactions_output_topic
      <-- filter_out_invalid_txns
    Sink: Mapped_transactions_output_topic (topic: output)
      <-- Map_values_to_first_6_characters

";
        assert_describes(builder, expected);
    }

    // repartition(). Derived from KStreamImpl#doRepartition: the repartition name takes an
    // index (KSTREAM-REPARTITION-0000000001), then createRepartitionedSource burns sink 2, filter 3,
    // source 4; the prefix is generated, so the nodes keep generated names.
    //   builder.stream("in").repartition().to("out");   // SINK-5
    #[test]
    fn repartition_unnamed_takes_four_indices() {
        let builder = StreamsBuilder::new();
        builder
            .stream(&strings("in"))
            .repartition()
            .to(&strings("out"));
        let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [in])
      --> KSTREAM-FILTER-0000000003
    Processor: KSTREAM-FILTER-0000000003 (stores: [])
      --> KSTREAM-SINK-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Sink: KSTREAM-SINK-0000000002 (topic: KSTREAM-REPARTITION-0000000001-repartition)
      <-- KSTREAM-FILTER-0000000003

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000004 (topics: [KSTREAM-REPARTITION-0000000001-repartition])
      --> KSTREAM-SINK-0000000005
    Sink: KSTREAM-SINK-0000000005 (topic: out)
      <-- KSTREAM-SOURCE-0000000004

";
        assert_describes(builder, expected);
    }

    // repartition(Repartitioned.as). Derived from KStreamImpl#doRepartition: a
    // Repartitioned name takes no index (unlike Named), the sink/filter/source still burn 1, 2, 3.
    //   builder.stream("in").repartition(Repartitioned.as("rekeyed")).to("out");   // SINK-4
    #[test]
    fn repartition_named_burns_three_indices() {
        let builder = StreamsBuilder::new();
        builder
            .stream(&strings("in"))
            .repartition_with(Repartitioned::named("rekeyed"))
            .to(&strings("out"));
        let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [in])
      --> rekeyed-repartition-filter
    Processor: rekeyed-repartition-filter (stores: [])
      --> rekeyed-repartition-sink
      <-- KSTREAM-SOURCE-0000000000
    Sink: rekeyed-repartition-sink (topic: rekeyed-repartition)
      <-- rekeyed-repartition-filter

  Sub-topology: 1
    Source: rekeyed-repartition-source (topics: [rekeyed-repartition])
      --> KSTREAM-SINK-0000000004
    Sink: KSTREAM-SINK-0000000004 (topic: out)
      <-- rekeyed-repartition-source

";
        assert_describes(builder, expected);
    }

    // groupByKey(Grouped.as). Derived from RepartitionTopicNamingTest#shouldKeepRepartitionTopicNameForGroupByKeyNoWindows
    // (buildStreamGroupByKeyNoWindows(false, true), which asserts "(topic: kstream-grouping-repartition)"):
    //   builder.stream("topic").selectKey((k, v) -> k + v)               // 1
    //       .groupByKey(Grouped.as("kstream-grouping")).count();         // store 2, AGG-3, burns 4, 5, 6
    #[test]
    fn repartition_topic_naming_test_should_keep_repartition_topic_name_for_group_by_key_no_windows()
     {
        let builder = StreamsBuilder::new();
        let _ = builder
            .stream(&strings("topic"))
            .select_key(|k: &String, v: &String| format!("{k}{v}"))
            .group_by_key_with(Grouped::named("kstream-grouping"))
            .count();
        let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [topic])
      --> KSTREAM-KEY-SELECT-0000000001
    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])
      --> kstream-grouping-repartition-filter
      <-- KSTREAM-SOURCE-0000000000
    Processor: kstream-grouping-repartition-filter (stores: [])
      --> kstream-grouping-repartition-sink
      <-- KSTREAM-KEY-SELECT-0000000001
    Sink: kstream-grouping-repartition-sink (topic: kstream-grouping-repartition)
      <-- kstream-grouping-repartition-filter

  Sub-topology: 1
    Source: kstream-grouping-repartition-source (topics: [kstream-grouping-repartition])
      --> KSTREAM-AGGREGATE-0000000003
    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000002])
      --> none
      <-- kstream-grouping-repartition-source

";
        assert_describes(builder, expected);
    }

    // groupBy(selector, Grouped.as). Derived from RepartitionTopicNamingTest#shouldKeepRepartitionTopicNameForGroupByNoWindows
    // (buildStreamGroupByKeyNoWindows(false, false)). KStreamImpl#groupBy names its key-select node
    // with the Grouped name (`internalSelectKey(keySelector, new NamedInternal(groupedInternal.name()))`,
    // burning index 2), and the repartition topic is named after it as well:
    //   builder.stream("topic").selectKey((k, v) -> k + v)                       // 1
    //       .groupBy((k, v) -> k + v, Grouped.as("kstream-grouping")).count();   // "kstream-grouping" (2), store 3, AGG-4
    #[test]
    fn repartition_topic_naming_test_should_keep_repartition_topic_name_for_group_by_no_windows() {
        let builder = StreamsBuilder::new();
        let _ = builder
            .stream(&strings("topic"))
            .select_key(|k: &String, v: &String| format!("{k}{v}"))
            .group_by_with(
                |k: &String, v: &String| format!("{k}{v}"),
                Grouped::named("kstream-grouping"),
            )
            .count();
        let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [topic])
      --> KSTREAM-KEY-SELECT-0000000001
    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])
      --> kstream-grouping
      <-- KSTREAM-SOURCE-0000000000
    Processor: kstream-grouping (stores: [])
      --> kstream-grouping-repartition-filter
      <-- KSTREAM-KEY-SELECT-0000000001
    Processor: kstream-grouping-repartition-filter (stores: [])
      --> kstream-grouping-repartition-sink
      <-- kstream-grouping
    Sink: kstream-grouping-repartition-sink (topic: kstream-grouping-repartition)
      <-- kstream-grouping-repartition-filter

  Sub-topology: 1
    Source: kstream-grouping-repartition-source (topics: [kstream-grouping-repartition])
      --> KSTREAM-AGGREGATE-0000000004
    Processor: KSTREAM-AGGREGATE-0000000004 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000003])
      --> none
      <-- kstream-grouping-repartition-source

";
        assert_describes(builder, expected);
    }
}
