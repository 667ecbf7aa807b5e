# encoding: utf-8
# Issue 7: every kind of garbage a memcached server (or something between
# it and Logstash) can send, one at a time, through the real engine and a
# real memcached behind our fault proxy. The long run (plugin_faults_spec)
# cycles through these kinds too, but its circuit breaker opens after three
# failures, so there only a few kinds reach the engine; here the breaker is
# set out of the way and each kind is sent until the engine has met it.
#
# For each kind: a lookup during the garbage never yields a wrong match and
# flags every slot it could not answer; the batch ends within its budget;
# and once the proxy passes replies through again, the very next lookups on
# the same engine (same pooled connections) answer correctly: no stale or
# extra bytes from the garbage are ever read as an answer.
require_relative "../spec_helper"
require "memcached_server"
require_relative "support/fault_proxy"
require_relative "support/memcached_tools"
require_relative "support/record"

RSpec.describe "the engine against garbage replies" do
  def native
    MispEnrich::Native
  end

  # Bound on one lookup's memcached work, in ms.
  def batch_timeout_ms
    600
  end

  before(:all) do
    @record = SpecSupport::ReliabilityRecord.new("garbage-replies", "Garbage from memcached, kind by kind (scripts/test)")
    @memcached = SpecSupport::MemcachedServer.new
    @proxy = SpecSupport::FaultProxy.new(@memcached.port)
    @indicators = { "203.0.113.7" => "7", "203.0.113.8" => "8", "203.0.113.9" => "9" }
    SpecSupport::MemcachedTools.load(@memcached.port,
                                     @indicators.map { |ip, id| [native.key("ip", ip)[1], "#{id}#ip-dst"] })
  end

  after(:all) do
    @proxy.stop
    @memcached.stop
  end

  def engine
    native::Engine.new(servers: [@proxy.addr], cache_size: 0, event_metadata: false, breaker_failures: 1_000_000,
                       connect_timeout_ms: 100, io_timeout_ms: 250, batch_timeout_ms: batch_timeout_ms,
                       range_refresh_ms: 0)
  end

  # Looks up the IPs (slot = index); returns [seconds, { ip => [ids] or :failed or nil }].
  def lookup(engine, ips)
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    result = engine.lookup(ips.each_with_index.map { |ip, i| [i, "ip", ip] })
    seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
    answers = ips.each_with_index.map do |ip, i|
      slot = result.slots[i]
      value = if slot.nil? then nil
              elsif slot.failed then :failed
              else slot.matches.flat_map { |m| m.entries.map(&:event_id) }
              end
      [ip, value]
    end
    [seconds, answers.to_h]
  end

  # What is wrong with an answer: a match that is not the indicator's, or an
  # indicator neither matched nor flagged.
  def wrong(answers)
    answers.reject do |ip, got|
      want = @indicators[ip]
      got == :failed || (want ? got == [want] : got.nil?)
    end
  end

  SpecSupport::FaultProxy::GARBAGE.each do |kind|
    it "survives #{kind}" do
      e = engine
      @proxy.garbage_kind = kind
      @proxy.mode = :garbage
      sent_before = @proxy.garbage_sent[kind]
      during = []
      max_seconds = 0.0
      begin
        # Send until the engine has met this garbage at least twice (each
        # failed call drops its connection, so each try is a fresh reply).
        6.times do
          seconds, answers = lookup(e, ["203.0.113.7", "192.0.2.1"])
          max_seconds = [max_seconds, seconds].max
          during << answers
          break if @proxy.garbage_sent[kind] - sent_before >= 2
        end
      ensure
        @proxy.mode = :pass
      end
      # Replies pass through untouched again: the next lookups, on the
      # connections the engine pooled, must be exactly right.
      after = [["203.0.113.8", "192.0.2.1"], ["192.0.2.2", "203.0.113.9"], ["203.0.113.7", "192.0.2.3"]].map do |ips|
        seconds, answers = lookup(e, ips)
        max_seconds = [max_seconds, seconds].max
        answers
      end
      e.close
      bad_during = during.map { |a| wrong(a) }.reject(&:empty?)
      bad_after = after.reject { |a| a.values.none? { |v| v == :failed } && wrong(a).empty? }
      sent = @proxy.garbage_sent[kind] - sent_before
      ok = bad_during.empty? && bad_after.empty? && sent > 0 && max_seconds <= batch_timeout_ms / 1000.0 + 2
      @record.row("garbage reply: #{kind}",
                  "during: no wrong match, indicators matched or flagged; after: next 3 lookups exact, unflagged; " \
                  "each lookup ≤ batch timeout + 2 s",
                  "#{ok ? 'pass' : 'FAIL'}: #{sent} garbage replies, #{during.size} lookups during " \
                  "(#{during.count { |a| a.values.include?(:failed) }} flagged), max #{format('%.3f', max_seconds)} s" \
                  "#{bad_during.empty? ? '' : ", wrong during: #{bad_during.first}"}" \
                  "#{bad_after.empty? ? '' : ", wrong after: #{bad_after.first}"}")
      aggregate_failures do
        expect(sent).to be > 0
        expect(bad_during).to eq([])
        expect(bad_after).to eq([])
        expect(max_seconds).to be <= batch_timeout_ms / 1000.0 + 2
      end
    end
  end
end
