# encoding: utf-8
# The real Winlogbeat/Sysmon events of spec/fixtures/winlogbeat-sysmon against
# indicators made from their own values: every expected match is found and
# nothing else. The expectation is computed here, in plain Ruby (IPAddr for
# IPs, lower case for hashes and names), independently of the native library;
# indicators are written under the seed's literal keys `misp-<ns>:<value>`.
require_relative "../spec_helper"
require "memcached_server"
require "logstash/filters/misp_enrich"
require "json"
require "ipaddr"

RSpec.describe "misp_enrich on real Winlogbeat Sysmon events" do
  FIXTURES = Dir[File.expand_path("../fixtures/winlogbeat-sysmon/*.ndjson", __dir__)].sort
  # field reference => namespace
  FIELDS = {
    "[destination][ip]" => "ip", "[source][ip]" => "ip", "[dns][resolved_ip]" => "ip",
    "[dns][question][name]" => "domain", "[file][hash][sha256]" => "sha256", "[file][hash][md5]" => "md5",
    "[process][hash][sha1]" => "sha1", "[hash][sha1]" => "sha1", "[dll][hash][sha256]" => "sha256",
    "[file][pe][imphash]" => "imphash", "[dll][pe][imphash]" => "imphash"
  }.freeze

  def self.misp_form(ns, value)
    case ns
    when "ip" then IPAddr.new(value).to_s
    else value.downcase.chomp(".")
    end
  end

  def self.dig(hash, reference)
    reference.scan(/\[([^\]]+)\]/).flatten.reduce(hash) { |h, k| h.is_a?(Hash) ? h[k] : nil }
  end

  before(:all) do
    @memcached = SpecSupport::MemcachedServer.new
    @events = FIXTURES.flat_map { |f| File.readlines(f).map { |l| JSON.parse(l) } }
    values = Hash.new { |h, k| h[k] = [] }
    @events.each do |e|
      FIELDS.each do |ref, ns|
        Array(self.class.dig(e, ref)).each { |v| values[ns] << self.class.misp_form(ns, v.to_s) }
      end
    end
    # Every other distinct value becomes an indicator; domains also get the
    # registered domain of every third name, so parent-domain matches occur
    # (only under single-label TLDs: Beats' registered_domain ignores the
    # private section of the public suffix list, which the plugin honours;
    # see the example below).
    @indicators = {}
    next_id = 100
    values.each do |ns, vs|
      vs.uniq.sort.each_with_index do |v, i|
        next unless i.even?
        @indicators[[ns, v]] = (next_id += 1).to_s
      end
    end
    @events.each_with_index do |e, i|
      rd = self.class.dig(e, "[dns][question][registered_domain]")
      tld = self.class.dig(e, "[dns][question][top_level_domain]").to_s
      next unless rd && i % 3 == 0 && !tld.include?(".")
      @indicators[["domain", rd.downcase]] ||= (next_id += 1).to_s
    end
    @indicators.each { |(ns, v), id| @memcached.set("misp-#{ns}:#{v}", "#{id}##{ns == 'ip' ? 'ip-dst' : ns}") }
  end
  after(:all) { @memcached.stop }

  # [field, event id] pairs the filter should report for one event.
  def expected(event)
    FIELDS.flat_map do |ref, ns|
      Array(self.class.dig(event, ref)).flat_map do |v|
        form = self.class.misp_form(ns, v.to_s)
        labels = form.split(".")
        names = ns == "domain" ? labels.each_index.map { |i| labels[i..-1].join(".") } : [form]
        names.map { |n| @indicators[[ns, n]] }.compact.map { |id| [ref, id] }
      end
    end
  end

  it "finds every expected match and nothing else" do
    filter = LogStash::Filters::MispEnrich.new("memcached" => [@memcached.addr], "fields" => FIELDS.keys)
    out = SpecSupport::FilterDriver.run(filter, @events.map { |e| LogStash::Event.new(e) })
    filter.close
    expect(out.size).to eq(@events.size)
    matched_events = 0
    @events.zip(out).each do |source, event|
      want = expected(source).map { |ref, id| [MispEnrich::FieldMap.dotted(ref), id] }.sort
      got = Array(event.get("[misp][matches]")).map { |m| [m["field"], m["event_id"]] }.sort
      expect(got).to eq(want), "event #{source.dig('winlog', 'record_id')}: expected #{want}, got #{got}"
      expect(event.get("tags")).to eq(source["tags"])
      matched_events += 1 unless want.empty?
    end
    # The fixture set must actually exercise matching (and misses).
    expect(matched_events).to be > 40
    expect(matched_events).to be < @events.size
    kinds = out.flat_map { |e| Array(e.get("[misp][matches]")).map { |m| m["match"] } }.uniq.sort
    expect(kinds).to eq(%w[exact suffix])
  end

  it "never matches a parent that is a public suffix, even one Beats calls a registered domain" do
    # fastly.net and freetls.fastly.net are public suffixes (private section).
    @memcached.set("misp-domain:freetls.fastly.net", "900#domain")
    filter = LogStash::Filters::MispEnrich.new("memcached" => [@memcached.addr], "fields" => ["[dns][question][name]"])
    a, b = SpecSupport::FilterDriver.run(filter, [LogStash::Event.new("dns" => { "question" => { "name" => "unseen.freetls.fastly.net" } }),
                                              LogStash::Event.new("dns" => { "question" => { "name" => "freetls.fastly.net" } })])
    filter.close
    expect(a.get("misp")).to be_nil
    expect(b.get("[misp][event_id]")).to eq(["900"])
  end
end
