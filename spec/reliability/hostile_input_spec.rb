# encoding: utf-8
# Issue 7: log data is attacker-controlled. Field values crafted to attack
# the store (memcached commands after CR LF, in every namespace), absurd
# sizes and shapes (10 MB strings, NUL bytes, invalid UTF-8, arrays nested
# 1,000 deep or 100,000 wide, numbers and hashes where strings are
# expected, fields that do not exist) go through the real filter, the real
# native library and a real memcached. Checked:
#
#   * every event comes out (the same objects, once each), none is tagged
#     as failed, and the indicator each of them also carries (a control
#     value in [source][ip]) is still found: hostile values fail only
#     themselves, never the batch;
#   * memcached holds exactly what it held before: every key, flag, value
#     and CAS unique (which changes on any write, even of the same value),
#     and its write counters (set, flush, delete, incr, touch, ...) did
#     not move; it is still up;
#   * the hostile values were looked up (memcached's get counter moved):
#     the test really sent them through the engine to the wire.
require_relative "../spec_helper"
require "memcached_server"
require "logstash/filters/misp_enrich"
require "bigdecimal"
require_relative "support/memcached_tools"
require_relative "support/record"

# Constants of this spec (a module: constants in a describe block would be
# top-level ones, shared with every other spec).
module HostileInput
  FIELDS = {
    "[source][ip]" => "ip", "[f][ip]" => "ip", "[f][domain]" => "domain", "[f][url]" => "url",
    "[f][sha256]" => "sha256", "[f][md5]" => "md5", "[f][hashes]" => "hashes", "[f][ua]" => "user-agent",
    "[f][mutex]" => "mutex", "[f][pipe]" => "named-pipe", "[f][reg]" => "regkey", "[f][email]" => "email",
    "[f][ssdeep]" => "ssdeep", "[f][tlsh]" => "tlsh", "[does][not][exist]" => "ip", "[@metadata][x]" => "domain"
  }.freeze
  HOSTILE_FIELDS = FIELDS.keys - ["[source][ip]", "[does][not][exist]", "[@metadata][x]"]
  CONTROL = "203.0.113.7".freeze
  CRLF = "\r\n".freeze
  MB10 = 10 * 1024 * 1024
end

RSpec.describe "misp_enrich against hostile field values" do

  def native
    MispEnrich::Native
  end

  # [label, value] pairs; each becomes one event with the value in every
  # hostile field.
  def hostile_values
    binary_flush = [0x80, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0].pack("C*")
    # Each level starts with a hash naming it (the plugin skips hashes):
    # nestings that differ at their first element keep any equality check
    # on the way (hashing, eql?) from recursing all the way down. 1,000
    # levels: logstash-core's own Event constructor (Valuefier) recurses and
    # overflows the stack below 3,000 levels of hashes, before any filter
    # could see the event.
    deep = HostileInput::CONTROL.dup
    1_000.times { |i| deep = [{ "level" => i }, deep] }
    deep_hash = { "x" => HostileInput::CONTROL }
    1_000.times { |i| deep_hash = { "level" => i, "x" => deep_hash } }
    [
      ["CR LF flush_all", "203.0.113.7#{HostileInput::CRLF}flush_all#{HostileInput::CRLF}"],
      ["CR LF set of an indicator key", "x#{HostileInput::CRLF}set misp-ip:1.2.3.4 0 0 1#{HostileInput::CRLF}X#{HostileInput::CRLF}"],
      ["CR LF delete of a stored key", "x#{HostileInput::CRLF}delete misp-ip:#{HostileInput::CONTROL}#{HostileInput::CRLF}"],
      ["CR LF after a valid domain", "evil.example#{HostileInput::CRLF}flush_all"],
      ["LF only", "x\nflush_all\nset misp-ip:1.2.3.4 0 0 1\nX\n"],
      ["CR only", "x\rflush_all\r"],
      ["bare commands", "flush_all"],
      ["command with spaces", "set misp-ip:1.2.3.4 0 0 1"],
      ["get of a key", "get misp-ip:#{HostileInput::CONTROL}"],
      ["key as value", "misp-ip:#{HostileInput::CONTROL}"],
      ["meta commands", "x#{HostileInput::CRLF}ms misp-ip:1.2.3.4 1#{HostileInput::CRLF}X#{HostileInput::CRLF}md misp-ip:#{HostileInput::CONTROL}#{HostileInput::CRLF}"],
      ["incr, touch, verbosity, shutdown", "x#{HostileInput::CRLF}incr misp-stats 1#{HostileInput::CRLF}touch misp-ip:#{HostileInput::CONTROL} 1#{HostileInput::CRLF}verbosity 1#{HostileInput::CRLF}shutdown#{HostileInput::CRLF}quit#{HostileInput::CRLF}"],
      ["binary-protocol flush", binary_flush],
      ["Sysmon Hashes with CR LF", "SHA256=#{'a' * 64}#{HostileInput::CRLF}flush_all#{HostileInput::CRLF},MD5=#{'b' * 32}#{HostileInput::CRLF}delete misp-ip:#{HostileInput::CONTROL}"],
      ["URL-encoded CR LF", "http://evil.example/%0d%0aflush_all%0d%0a"],
      ["Unicode line breaks", "x\u2028flush_all\u0085set misp-ip:1.2.3.4 0 0 1\u2029"],
      ["NUL bytes", "203.0.113.7\x00#{HostileInput::CRLF}flush_all\x00"],
      ["only NULs", "\x00" * 300],
      ["whitespace and control bytes", "\t\v\f#{HostileInput::CRLF}\e[2J\a"],
      ["250-byte token then CR LF", "#{'k' * 250}#{HostileInput::CRLF}flush_all"],
      ["invalid UTF-8", "\xff\xfe\xfd#{HostileInput::CRLF}flush_all".dup.force_encoding(Encoding::UTF_8)],
      ["truncated UTF-8 after an IP", "203.0.113.7\xc3".dup.force_encoding(Encoding::UTF_8)],
      ["overlong and surrogate UTF-8", "\xc0\xaf\xed\xa0\x80evil.example".dup.force_encoding(Encoding::UTF_8)],
      ["binary-encoded string", "evil.example\r\nflush_all\xff".b],
      ["10 MB string", "A" * HostileInput::MB10],
      ["10 MB of CR LF flush_all", ("#{HostileInput::CRLF}flush_all" * (HostileInput::MB10 / 11))],
      ["10 MB Sysmon Hashes, all different", Array.new(HostileInput::MB10 / 72) { |i| format("SHA256=%064x,", i) }.join],
      ["array nested 1,000 deep (indicator at the bottom)", deep],
      ["hash nested 1,000 deep", deep_hash],
      ["array of 100,000 CR LF values", Array.new(100_000) { |i| "x#{i}#{HostileInput::CRLF}flush_all" }],
      ["integer", 3_405_803_783],
      ["big integer", 2**200],
      ["negative float", -1.5e300],
      ["NaN and Infinity", [Float::NAN, Float::INFINITY]],
      ["BigDecimal", BigDecimal("1e400")],
      ["hash where a string is expected", { "ip" => HostileInput::CONTROL, "cmd" => "#{HostileInput::CRLF}flush_all" }],
      ["booleans and nil", [true, false, nil]],
      ["empty string and empty array", ["", []]],
      ["timestamp", LogStash::Timestamp.now]
    ]
  end

  before(:all) do
    @memcached = SpecSupport::MemcachedServer.new
    @record = SpecSupport::ReliabilityRecord.new("hostile-input", "Hostile log field values (scripts/test)")
  end

  after(:all) { @memcached.stop }

  it "passes every event, enriches what it can, and leaves memcached exactly as it was" do
    store = {
      native.key("ip", HostileInput::CONTROL)[1] => "7#ip-dst",
      native.key("domain", "evil.example")[1] => "4#domain",
      native.key("ip", "198.51.100.1")[1] => "5#ip-src",
      "misp-event:7" => JSON.generate("id" => "7", "info" => "control event"),
      "misp-stats" => "3"
    }
    SpecSupport::MemcachedTools.load(@memcached.port, store)
    before_dump = SpecSupport::MemcachedTools.dump(@memcached.port)
    before_writes = SpecSupport::MemcachedTools.write_stats(@memcached.port)
    before_gets = SpecSupport::MemcachedTools.stats(@memcached.port)["cmd_get"].to_i
    expect(before_dump.keys.sort).to eq(store.keys.sort)

    filter = LogStash::Filters::MispEnrich.new("memcached" => [@memcached.addr], "fields" => HostileInput::FIELDS,
                                               "timeout_ms" => 1_000, "tag_on_failure" => ["_hostile_failure"])
    cases = hostile_values
    events = cases.map do |_label, value|
      data = { "source" => { "ip" => HostileInput::CONTROL }, "does" => "a string, not a hash" }
      HostileInput::HOSTILE_FIELDS.each do |ref|
        a, b = ref.scan(/\[([^\]]+)\]/).flatten
        (data[a] ||= {})[b] = value
      end
      LogStash::Event.new(data)
    end
    # Plus events with only a field that is absent or of the wrong shape.
    events << LogStash::Event.new("message" => "no configured field at all")
    events << LogStash::Event.new("source" => "scalar where a hash is expected", "f" => ["an", "array"])
    events.each { |e| e.set("[@metadata][x]", "#{HostileInput::CRLF}flush_all") }
    # Several batches, two workers, hostile events next to ordinary ones.
    ordinary = Array.new(250) { |i| LogStash::Event.new("source" => { "ip" => "192.0.2.#{i % 250}" }, "n" => i) }
    all = ordinary.each_slice(50).zip(events.each_slice(10)).flatten.compact
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    out = SpecSupport::FilterDriver.run(filter, all, batch_size: 125, workers: 2)
    seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    stats = filter.instance_variable_get(:@engine).stats
    filter.close

    after_dump = SpecSupport::MemcachedTools.dump(@memcached.port)
    after_writes = SpecSupport::MemcachedTools.write_stats(@memcached.port)
    after_gets = SpecSupport::MemcachedTools.stats(@memcached.port)["cmd_get"].to_i

    same_objects = out.size == all.size && out.map(&:object_id).sort == all.map(&:object_id).sort
    tagged = out.select { |e| Array(e.get("tags")).include?("_hostile_failure") }
    hostile_out = events.first(cases.size)
    not_enriched = cases.zip(hostile_out).reject { |(_l, _v), e| e.get("[misp][event_id]")&.include?("7") }.map { |(l, _), _| l }
    deep_event = hostile_out[cases.index { |l, _| l.start_with?("array nested") }]
    deep_found = deep_event.get("[misp][matches]").to_a.any? { |m| m["field"] == "f.ip" && m["indicator"] == HostileInput::CONTROL }
    store_same = after_dump == before_dump && after_writes == before_writes

    cases.each_with_index do |(label, _), i|
      e = hostile_out[i]
      ok = e.get("[misp][event_id]")&.include?("7") && !Array(e.get("tags")).include?("_hostile_failure")
      @record.row("field value: #{label}",
                  "passes untagged; control indicator in the same event still found; store unchanged",
                  "#{ok && store_same ? 'pass' : 'FAIL'}")
    end
    @record.row("fields absent or of the wrong shape (scalar parent, array parent, [@metadata] with CR LF, missing reference)",
                "events pass untagged and unenriched", (out.last(2).none? { |e| e.get("tags") || e.get("misp") } ? "pass" : "FAIL"))
    @record.row("the whole hostile run",
                "#{all.size} events in #{(all.size / 125.0).ceil} batches, 2 workers: all out once; none tagged; " \
                "memcached dump (keys, flags, values, CAS) and write counters identical before and after",
                "#{same_objects && tagged.empty? && store_same ? 'pass' : 'FAIL'}: #{out.size}/#{all.size} out, " \
                "#{tagged.size} tagged, #{before_dump.size} keys before and #{after_dump.size} after, " \
                "#{after_gets - before_gets} get commands sent, #{stats['invalid_values']} values skipped as " \
                "not indicators, #{format('%.1f', seconds)} s")

    aggregate_failures do
      expect(same_objects).to be(true)
      expect(tagged.size).to eq(0)
      expect(not_enriched).to eq([])
      expect(deep_found).to be(true)
      expect(out.last(2).map { |e| [e.get("tags"), e.get("misp")] }).to eq([[nil, nil], [nil, nil]])
      expect(ordinary.map { |e| e.get("misp") }).to all(be_nil)
      expect(after_dump).to eq(before_dump)
      expect(after_writes).to eq(before_writes)
      expect(after_gets).to be > before_gets
      expect(stats["invalid_values"]).to be > 0
      expect(stats["malformed_batches"]).to eq(0)
      expect(@memcached.get(native.key("ip", HostileInput::CONTROL)[1])).to eq("7#ip-dst")
    end
  end
end
