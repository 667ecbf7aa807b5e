# encoding: utf-8
# Issue 7: the filter's native engine is freed by `close` while pipeline
# workers may still be inside multi_filter (Logstash closes filters when a
# pipeline stops or reloads). A use after free there would crash the JVM,
# which no `rescue` can catch; the binding's read-write lock must make close
# wait for lookups in flight, and lookups after close must pass events on,
# tagged. Also: close twice, and events after close.
require_relative "../spec_helper"
require "memcached_server"
require "logstash/filters/misp_enrich"
require_relative "support/fault_proxy"
require_relative "support/memcached_tools"
require_relative "support/record"

RSpec.describe "misp_enrich closed while workers run" do
  before(:all) do
    @memcached = SpecSupport::MemcachedServer.new
    @record = SpecSupport::ReliabilityRecord.new("lifecycle", "Filter lifecycle: close under load (scripts/test)")
    SpecSupport::MemcachedTools.load(@memcached.port, MispEnrich::Native.key("ip", "203.0.113.7")[1] => "7#ip-dst")
  end

  after(:all) { @memcached.stop }

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # n events, every other one holding the indicator 203.0.113.7.
  def events(n, from)
    Array.new(n) do |i|
      LogStash::Event.new("id" => from + i,
                          "destination" => { "ip" => i.even? ? "203.0.113.7" : "10.9.#{(from + i) % 250}.#{i % 250}" })
    end
  end

  it "waits in close for a lookup in flight, which completes" do
    proxy = SpecSupport::FaultProxy.new(@memcached.port)
    proxy.delay = 0.4
    proxy.mode = :delay
    filter = LogStash::Filters::MispEnrich.new("memcached" => [proxy.addr], "fields" => ["[destination][ip]"],
                                               "timeout_ms" => 3_000, "tag_on_failure" => ["_closed"])
    filter.register
    # When the native call of the batch starts and ends (instrumentation of
    # the real engine object).
    started = Queue.new
    native_end = nil
    clock = method(:now)
    filter.instance_variable_get(:@engine).singleton_class.prepend(Module.new do
      define_method(:lookup_batch) do |batch|
        started << true
        begin
          super(batch)
        ensure
          native_end = clock.call
        end
      end
    end)
    batch = events(125, 0)
    out = nil
    worker = Thread.new { out = filter.multi_filter(batch) }
    started.pop
    sleep 0.1 # the lookup waits for the slowed memcached now
    filter.close
    close_end = now
    worker.join
    proxy.stop
    enriched = out.count { |e| e.get("[misp][event_id]") == ["7"] }
    # The lock is released inside the native call's Ruby wrapper a moment
    # before our timestamp after it; a close that does not wait returns
    # about 0.7 s before the lookup ends.
    waited = close_end >= native_end - 0.1
    @record.row("close while a lookup is in flight (memcached slowed to 0.4 s by the proxy)",
                "close returns only after the native lookup it would free the engine under has returned; " \
                "that batch is enriched, untagged",
                "#{waited && enriched == 63 && out.none? { |e| e.get('tags') } ? 'pass' : 'FAIL'}: close returned at " \
                "#{format('%+.3f', close_end - native_end)} s from the end of the native lookup; " \
                "#{enriched}/63 indicator events enriched")
    aggregate_failures do
      expect(waited).to be(true), "close returned #{format('%.3f', native_end - close_end)} s before the lookup ended"
      expect(enriched).to eq(63)
      expect(out.map { |e| e.get("tags") }).to all(be_nil)
    end
  end

  it "never crashes, loses or duplicates an event when close comes in the middle of batches" do
    filter = LogStash::Filters::MispEnrich.new("memcached" => [@memcached.addr], "fields" => ["[destination][ip]"],
                                               "timeout_ms" => 1_000, "tag_on_failure" => ["_closed"])
    filter.register
    sent = java.util.concurrent.atomic.AtomicLong.new
    results = java.util.concurrent.ConcurrentLinkedQueue.new
    errors = java.util.concurrent.ConcurrentLinkedQueue.new
    stop = java.util.concurrent.atomic.AtomicBoolean.new(false)
    workers = Array.new(4) do |w|
      Thread.new do
        round = 0
        until stop.get
          batch = events(125, (w * 1_000_000) + round * 125)
          round += 1
          sent.add_and_get(batch.size)
          begin
            out = filter.multi_filter(batch)
            results.add([batch, out])
          rescue Exception => e # rubocop:disable Lint/RescueException
            errors.add(e)
          end
        end
      end
    end
    sleep 1.0
    closer_started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    filter.close
    filter.close # twice: idempotent
    close_seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - closer_started
    sleep 0.5
    stop.set(true)
    workers.each(&:join)

    batches = results.to_a
    lost_or_dup = batches.count { |batch, out| out.size != batch.size || out.map(&:object_id).sort != batch.map(&:object_id).sort }
    out_events = batches.flat_map { |_, out| out }
    enriched = out_events.count { |e| e.get("[misp][event_id]") == ["7"] }
    tagged = out_events.count { |e| Array(e.get("tags")).include?("_closed") }
    after_close = filter.multi_filter(events(3, 99_000_000))
    ok = errors.empty? && lost_or_dup.zero? && out_events.size == sent.get && enriched > 0 && tagged > 0 &&
         after_close.size == 3 && after_close.all? { |e| Array(e.get("tags")).include?("_closed") }
    @record.row("close while 4 workers call multi_filter (twice, then a batch after close)",
                "no exception out of multi_filter, no crash; every batch returns exactly its events; " \
                "events before close enriched, after close tagged; close waits for lookups in flight",
                "#{ok ? 'pass' : 'FAIL'}: #{batches.size} batches, #{out_events.size}/#{sent.get} events out, " \
                "#{enriched} enriched, #{tagged} tagged after close, close took #{format('%.3f', close_seconds)} s")

    aggregate_failures do
      expect(errors.to_a).to eq([])
      expect(lost_or_dup).to eq(0)
      expect(out_events.size).to eq(sent.get)
      expect(enriched).to be > 0
      expect(tagged).to be > 0
      expect(after_close.size).to eq(3)
      expect(after_close.map { |e| e.get("tags") }).to all(eq(["_closed"]))
    end
  end
end
