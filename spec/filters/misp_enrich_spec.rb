# encoding: utf-8
# The misp_enrich filter on real logstash-core, with the real native
# library and real memcached processes that these specs start themselves.
require_relative "../spec_helper"
require "memcached_server"
require "logstash/filters/misp_enrich"
require "json"

RSpec.describe LogStash::Filters::MispEnrich do
  SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".freeze

  before(:all) { @memcached = SpecSupport::MemcachedServer.new }
  after(:all) { @memcached.stop }

  # Stores entries under the key the shared key rule gives `value`.
  def put(ns, value, entries, prefix = "")
    status, key = MispEnrich::Native.key(ns, value, prefix)
    raise "no key for #{value}: #{key}" unless status == :ok
    @memcached.set(key, entries)
  end

  def plugin(extra = {})
    f = described_class.new({ "memcached" => [@memcached.addr], "fields" => fields, "timeout_ms" => 300 }.merge(extra))
    @plugins << f
    f
  end

  def run(filter, events)
    SpecSupport::FilterDriver.run(filter, events.map { |e| e.is_a?(Hash) ? LogStash::Event.new(e) : e })
  end

  before do
    @plugins = []
    @memcached.flush
  end
  after { @plugins.each(&:close) }

  let(:fields) { ["[destination][ip]", "[dns][resolved_ip]", "[dns][question][name]", "[hash][sha256]"] }

  context "with the seed's four fields" do
    before do
      put("ip", "203.0.113.7", "7#ip-dst")
      put("ip", "198.51.100.9", "8#ip-src,9#domain|ip")
      put("domain", "trencansky.sk", "1#domain,2#domain")
      put("sha256", SHA256, "3#sha256")
    end

    it "writes [misp][event_id] and [misp][type] as process_ioc.rb did, in field order" do
      event = run(plugin, [{ "destination" => { "ip" => "203.0.113.7" },
                             "dns" => { "question" => { "name" => "trencansky.sk" } },
                             "hash" => { "sha256" => SHA256.upcase } }]).first
      expect(event.get("[misp][event_id]")).to eq(%w[7 1 2 3])
      expect(event.get("[misp][type]")).to eq(%w[ip-dst domain domain sha256])
    end

    it "looks up every element of an array field" do
      event = run(plugin, [{ "dns" => { "resolved_ip" => ["192.0.2.1", "198.51.100.9", "203.0.113.7"] } }]).first
      expect(event.get("[misp][event_id]")).to eq(%w[8 9 7])
      matched = event.get("[misp][matches]").map { |m| [m["field"], m["value"], m["type"]] }
      expect(matched).to eq([["dns.resolved_ip", "198.51.100.9", "ip-src"], ["dns.resolved_ip", "198.51.100.9", "domain|ip"],
                             ["dns.resolved_ip", "203.0.113.7", "ip-dst"]])
    end

    it "leaves events without a match untouched and does not call filter_matched on them" do
      f = plugin("add_tag" => ["enriched_%{[destination][ip]}"])
      miss, hit = run(f, [{ "destination" => { "ip" => "192.0.2.1" } }, { "destination" => { "ip" => "203.0.113.7" } }])
      expect(miss.get("misp")).to be_nil
      expect(miss.get("tags")).to be_nil
      expect(hit.get("tags")).to eq(["enriched_203.0.113.7"])
    end

    it "appends to [misp] arrays an event already carries" do
      event = run(plugin, [{ "destination" => { "ip" => "203.0.113.7" }, "misp" => { "event_id" => ["5"], "type" => ["url"] } }]).first
      expect(event.get("[misp][event_id]")).to eq(%w[5 7])
      expect(event.get("[misp][type]")).to eq(%w[url ip-dst])
    end

    it "keeps what [misp] and [threat] already hold and appends to their lists" do
      event = run(plugin, [{ "destination" => { "ip" => "203.0.113.7" },
                             "misp" => { "source" => "elsewhere" },
                             "threat" => { "feed" => { "name" => "other" }, "enrichments" => [{ "indicator" => { "type" => "url" } }] } }]).first
      expect(event.get("[misp][source]")).to eq("elsewhere")
      expect(event.get("[misp][event_id]")).to eq(["7"])
      expect(event.get("[threat][feed][name]")).to eq("other")
      expect(event.get("[threat][enrichments]").map { |e| e["indicator"]["type"] }).to eq(%w[url ipv4-addr])
    end

    it "writes [misp] and [threat] whole on an event that has neither" do
      event = run(plugin("misp_url" => "https://misp.example.org"), [{ "destination" => { "ip" => "203.0.113.7" } }]).first
      expect(event.get("misp").keys.sort).to eq(%w[event_id matches type url])
      expect(event.get("threat").keys).to eq(["enrichments"])
    end

    it "adds tag_on_match and links with misp_url" do
      f = plugin("tag_on_match" => ["misp_hit"], "misp_url" => "https://misp.example.org/")
      event = run(f, [{ "destination" => { "ip" => "203.0.113.7" } }]).first
      expect(event.get("tags")).to eq(["misp_hit"])
      expect(event.get("[misp][url]")).to eq(["https://misp.example.org/events/view/7"])
      expect(event.get("[misp][matches]").first["url"]).to eq("https://misp.example.org/events/view/7")
    end

    it "writes under target" do
      event = run(plugin("target" => "[threat][misp]"), [{ "destination" => { "ip" => "203.0.113.7" } }]).first
      expect(event.get("[threat][misp][event_id]")).to eq(["7"])
      expect(event.get("misp")).to be_nil
    end

    it "counts lookups and matches in the plugin's metrics, and the engine's gauges apart" do
      f = plugin
      metric, collector = SpecSupport::FilterDriver.metric
      f.metric = metric
      run(f, [{ "destination" => { "ip" => "203.0.113.7" } }, { "destination" => { "ip" => "192.0.2.1" } }])
      value = ->(*path) { SpecSupport::FilterDriver.metric_value(collector, *path) }
      expect(value.(:lookups)).to eq(2)
      expect(value.(:matches)).to eq(1)
      expect(value.(:failures)).to be_nil
      # Copied from the engine's counters on the first batch (then every 5 s).
      expect(value.(:engine, :lookups)).to eq(2)
      expect(value.(:engine, :matches)).to eq(1)
      expect(value.(:engine, :cache_misses)).to eq(2)
      store = collector.snapshot_metric.metric_store
      types = store.get_shallow(:stats, :pipelines, :main, :plugins, :filters, :misp_enrich_spec)
      expect(types[:lookups].type).to eq("counter/long")
      expect(types[:engine][:lookups].type).to eq("gauge/number")
    end

    it "shares one filter between 8 threads" do
      f = plugin
      events = Array.new(2_000) { |i| { "destination" => { "ip" => i.even? ? "203.0.113.7" : "192.0.2.#{i % 250}" } } }
      out = SpecSupport::FilterDriver.run(f, events.map { |e| LogStash::Event.new(e) }, workers: 8)
      expect(out.size).to eq(2_000)
      hits = out.select { |e| e.get("[misp][event_id]") == ["7"] }
      expect(hits.size).to eq(1_000)
      expect(out.count { |e| e.get("misp") }).to eq(1_000)
    end
  end

  context "with every seed namespace" do
    let(:fields) do
      { "[f][md5]" => "md5", "[f][sha1]" => "sha1", "[f][sha256]" => "sha256", "[f][sha512]" => "sha512",
        "[f][imphash]" => "imphash", "[f][ip]" => "ip", "[f][domain]" => "domain", "[f][url]" => "url" }
    end

    it "finds each one, with the seed's namespace names" do
      values = { "md5" => "d41d8cd98f00b204e9800998ecf8427e", "sha1" => "da39a3ee5e6b4b0d3255bfef95601890afd80709",
                 "sha256" => SHA256, "sha512" => "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce" \
                                                 "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
                 "imphash" => "f34d5f2d4577ed6d9ceec516c1f5a744", "ip" => "2001:db8::7",
                 "domain" => "evil.example", "url" => "http://evil.example/gate.php" }
      values.each_with_index { |(ns, v), i| @memcached.set("misp-#{ns}:#{v}", "#{i + 1}##{ns}") }
      # As logs write them: upper-case hashes, another IPv6 spelling, mixed-case host names.
      logged = values.map { |ns, v| [ns, v.upcase] }.to_h
      logged["ip"] = "2001:DB8:0:0::7"
      logged["url"] = "HTTP://Evil.Example/gate.php"
      event = run(plugin, [{ "f" => logged }]).first
      expect(event.get("[misp][event_id]")).to eq(%w[1 2 3 4 5 6 7 8])
      expect(event.get("[misp][type]")).to eq(values.keys)
    end
  end

  context "when domains are matched" do
    let(:fields) { ["[dns][question][name]"] }

    before { put("domain", "evil.example", "4#domain") }

    it "matches parent domains on label boundaries by default" do
      a, b, c = run(plugin, [{ "dns" => { "question" => { "name" => "a.b.evil.example" } } },
                             { "dns" => { "question" => { "name" => "notevil.example" } } },
                             { "dns" => { "question" => { "name" => "EVIL.EXAMPLE." } } }])
      expect(a.get("[misp][event_id]")).to eq(["4"])
      m = a.get("[misp][matches]").first
      expect([m["indicator"], m["match"], m["value"]]).to eq(["evil.example", "suffix", "a.b.evil.example"])
      expect(b.get("misp")).to be_nil
      expect(c.get("[misp][matches]").first["match"]).to eq("exact")
    end

    it "matches only the name itself with domain_match => exact" do
      a, = run(plugin("domain_match" => "exact"), [{ "dns" => { "question" => { "name" => "a.evil.example" } } }])
      expect(a.get("misp")).to be_nil
    end
  end

  context "with event metadata stored by misp-load" do
    let(:fields) { ["[destination][ip]"] }

    before do
      put("ip", "203.0.113.7", "42#ip-dst")
      @memcached.set("misp-event:42", JSON.generate("id" => "42", "uuid" => "5f1c", "info" => "Emotet wave",
                                                    "threat_level" => "high", "org" => "CIRCL",
                                                    "tags" => ["tlp:amber", "misp-galaxy:botnet=\"Emotet\""]))
    end

    it "adds info, threat level, org, tags and TLP to the match" do
      event = run(plugin, [{ "destination" => { "ip" => "203.0.113.7" } }]).first
      m = event.get("[misp][matches]").first
      expect(m.values_at("info", "threat_level", "org", "tlp")).to eq(["Emotet wave", "high", "CIRCL", "AMBER"])
      expect(m["tags"]).to include("tlp:amber")
    end

    it "writes ECS threat.enrichments when ECS compatibility is on" do
      f = plugin("ecs_compatibility" => "v8", "misp_url" => "https://misp.example.org")
      enrichment = run(f, [{ "destination" => { "ip" => "203.0.113.7" } }]).first.get("[threat][enrichments]").first
      expect(enrichment["indicator"]).to include("provider" => "MISP", "type" => "ipv4-addr", "ip" => "203.0.113.7",
                                                 "reference" => "https://misp.example.org/events/view/42",
                                                 "marking" => { "tlp" => "AMBER", "tlp_version" => "2.0" },
                                                 "description" => "Emotet wave")
      expect(enrichment["matched"]).to eq("atomic" => "203.0.113.7", "field" => "destination.ip", "type" => "misp_enrich")
    end

    it "takes ecs_compatibility from the pipeline when the stanza does not set it" do
      setting = LogStash::SETTINGS.get_setting("pipeline.ecs_compatibility")
      before = setting.value
      begin
        setting.set("disabled")
        expect(run(plugin, [{ "destination" => { "ip" => "203.0.113.7" } }]).first.get("threat")).to be_nil
        setting.set("v8")
        expect(run(plugin, [{ "destination" => { "ip" => "203.0.113.7" } }]).first.get("[threat][enrichments]").size).to eq(1)
      ensure
        setting.set(before)
      end
    end

    it "dates indicator.first_seen from the MISP event's date" do
      @memcached.set("misp-event:42", JSON.generate("id" => "42", "info" => "x", "date" => "2026-11-30"))
      enrichment = run(plugin("ecs_compatibility" => "v8"), [{ "destination" => { "ip" => "203.0.113.7" } }])
                   .first.get("[threat][enrichments]").first
      expect(enrichment["indicator"]["first_seen"]).to eq("2026-11-30")
    end

    # [MISP tag, marking under v8, marking under v1]
    [["tlp:white", { "tlp" => "WHITE", "tlp_version" => "1.0" }, { "tlp" => "WHITE" }],
     ["tlp:clear", { "tlp" => "CLEAR", "tlp_version" => "2.0" }, { "tlp" => "WHITE" }],
     ["tlp:green", { "tlp" => "GREEN", "tlp_version" => "2.0" }, { "tlp" => "GREEN" }],
     ["tlp:amber+strict", { "tlp" => "AMBER+STRICT", "tlp_version" => "2.0" }, nil],
     ["TLP:RED", { "tlp" => "RED", "tlp_version" => "2.0" }, { "tlp" => "RED" }],
     ["tlp:ex:chr", nil, nil],
     ["tlp:unclear", nil, nil]].each do |tag, v8, v1|
      it "marks #{tag} with ECS's allowed TLP values only (v8: #{v8.inspect}, v1: #{v1.inspect})" do
        @memcached.set("misp-event:42", JSON.generate("id" => "42", "tags" => [tag]))
        { "v8" => v8, "v1" => v1 }.each do |ecs, expected|
          enrichment = run(plugin("ecs_compatibility" => ecs), [{ "destination" => { "ip" => "203.0.113.7" } }])
                       .first.get("[threat][enrichments]").first
          expect(enrichment["indicator"]["marking"]).to eq(expected), ecs
        end
      end
    end

    it "writes no threat.enrichments with ecs_compatibility => disabled" do
      event = run(plugin("ecs_compatibility" => "disabled"), [{ "destination" => { "ip" => "203.0.113.7" } }]).first
      expect(event.get("threat")).to be_nil
      expect(event.get("[misp][event_id]")).to eq(["42"])
    end
  end

  context "with ECS fields per version" do
    let(:fields) { { "[winlog][event_data][Hashes]" => "hashes", "[f][sha224]" => "sha224", "[f][sha384]" => "sha384" } }
    let(:sha1) { "da39a3ee5e6b4b0d3255bfef95601890afd80709" }
    let(:sha224) { "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f" }
    let(:sha384) { "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b" }

    before do
      put("sha1", sha1, "5#sha1")
      put("sha224", sha224, "6#sha224")
      put("sha384", sha384, "7#sha384")
    end

    def enrichments(ecs, event)
      run(plugin("ecs_compatibility" => ecs), [event]).first.get("[threat][enrichments]")
    end

    it "gives the one hash that matched as matched.atomic, not Sysmon's whole Hashes string" do
      hashes = "SHA1=#{sha1.upcase},MD5=D41D8CD98F00B204E9800998ECF8427E,IMPHASH=00000000000000000000000000000000"
      e = enrichments("v8", "winlog" => { "event_data" => { "Hashes" => hashes } }).first
      expect(e["matched"]).to eq("atomic" => sha1, "field" => "winlog.event_data.Hashes", "type" => "misp_enrich")
      expect(e["indicator"]["file"]).to eq("hash" => { "sha1" => sha1 })
    end

    it "writes no invented hash field (sha224), and sha384 and indicator.name only under v8" do
      event = { "f" => { "sha224" => sha224, "sha384" => sha384 } }
      v8 = enrichments("v8", event).map { |e| e["indicator"] }
      v1 = enrichments("v1", event).map { |e| e["indicator"] }
      expect(v8.map { |i| i["type"] }).to eq(%w[file file])
      expect(v8[0]).not_to have_key("file")
      expect(v8[0]["name"]).to eq(sha224)
      expect(v8[1]["file"]).to eq("hash" => { "sha384" => sha384 })
      expect(v1[0].keys.sort).to eq(%w[provider type])
      expect(v1[1].keys.sort).to eq(%w[provider type])
    end
  end

  context "with an event that cannot take the result" do
    let(:fields) { ["[destination][ip]"] }

    before { put("ip", "203.0.113.7", "7#ip-dst") }

    it "tags only that event and enriches the rest of the batch" do
      f = plugin("ecs_compatibility" => "v8", "add_tag" => ["enriched"])
      ip = { "ip" => "203.0.113.7" }
      events = [{ "destination" => ip, "misp" => "a string" },
                { "destination" => ip, "threat" => 5 },
                { "destination" => ip, "misp" => { "event_id" => "5" }, "threat" => { "enrichments" => "x" } },
                { "destination" => ip },
                { "destination" => ip, "misp" => ["x"] }]
      out = run(f, events)
      expect(out.size).to eq(5)
      expect(out.map { |e| e.get("tags") }).to eq([["_misp_enrich_failure"], ["_misp_enrich_failure"], ["enriched"],
                                                   ["enriched"], ["_misp_enrich_failure"]])
      # Left as they were, not half-written.
      expect(out[0].get("misp")).to eq("a string")
      expect(out[1].get("misp")).to be_nil
      expect(out[1].get("threat")).to eq(5)
      expect(out[2].get("[misp][event_id]")).to eq(%w[5 7])
      expect(out[2].get("[threat][enrichments]").size).to eq(2)
      expect(out[3].get("[misp][event_id]")).to eq(["7"])
    end

    it "tags nothing when memcached is down but the event had no value to look up" do
      down = SpecSupport::MemcachedServer.new
      down.stop
      out = run(plugin("memcached" => [down.addr]), [{ "message" => "no fields" }, { "destination" => { "ip" => [] } }])
      expect(out.map { |e| e.get("tags") }).to eq([nil, nil])
    end
  end

  context "with IP ranges" do
    let(:fields) { ["[source][ip]"] }

    it "matches addresses inside a CIDR indicator from the range index" do
      @memcached.set("misp-ranges:1:0", "10.1.0.0/16 11#ip-src\n")
      @memcached.set("misp-ranges", "v1 1 1")
      event = run(plugin, [{ "source" => { "ip" => "10.1.200.3" } }, { "source" => { "ip" => "10.2.0.1" } }])
      expect(event[0].get("[misp][matches]").first.values_at("indicator", "match")).to eq(["10.1.0.0/16", "range"])
      expect(event[1].get("misp")).to be_nil
    end
  end

  context "with odd and hostile field values" do
    let(:fields) { ["[destination][ip]", "[url][original]"] }

    before { put("ip", "203.0.113.7", "7#ip-dst") }

    it "passes every event, looks up numbers and nested arrays, and skips the rest" do
      events = [
        { "destination" => { "ip" => ["x", ["203.0.113.7"]] } },
        { "destination" => { "ip" => 42 } },
        { "destination" => { "ip" => { "nested" => "203.0.113.7" } } },
        { "destination" => { "ip" => true } },
        { "destination" => "scalar-parent" },
        { "url" => { "original" => "http://a/\r\nflush_all\r\nset misp-ip:1.2.3.4 0 0 1\r\n" } },
        { "url" => { "original" => "x" * 10_000_000 } },
        { "url" => { "original" => "\xff\xfe\x00".b.force_encoding("UTF-8") } },
        { "destination" => { "ip" => [] } }
      ]
      out = run(plugin, events)
      expect(out.size).to eq(events.size)
      expect(out[0].get("[misp][event_id]")).to eq(["7"])
      expect(out[1..-1].map { |e| e.get("misp") }).to all(be_nil)
      expect(out.map { |e| e.get("tags") }).to all(be_nil)
      # memcached holds exactly what it held before: no injected command ran.
      expect(@memcached.keys).to eq([MispEnrich::Native.key("ip", "203.0.113.7")[1]])
    end

    it "survives arrays nested 5,000 deep" do
      deep = "203.0.113.7"
      5_000.times { deep = [deep] }
      out = run(plugin, [{ "destination" => { "ip" => deep } }])
      expect(out.size).to eq(1)
    end
  end

  context "when memcached is down or comes back" do
    let(:fields) { ["[destination][ip]"] }

    it "registers without memcached, tags events meanwhile, and resumes by itself" do
      down = SpecSupport::MemcachedServer.new
      down.stop
      f = plugin("memcached" => [down.addr], "timeout_ms" => 200, "negative_cache_ttl" => 0.1)
      started = Time.now
      out = run(f, [{ "destination" => { "ip" => "203.0.113.7" } }, { "message" => "no fields" }])
      expect(Time.now - started).to be < 5
      expect(out.map { |e| e.get("tags") }).to eq([["_misp_enrich_failure"], nil])
      down.start
      status, key = MispEnrich::Native.key("ip", "203.0.113.7")
      down.set(key, "7#ip-dst")
      deadline = Time.now + 15
      event = nil
      loop do
        event = run(f, [{ "destination" => { "ip" => "203.0.113.7" } }]).first
        break if event.get("misp") || Time.now > deadline
        sleep 0.2
      end
      expect(status).to eq(:ok)
      expect(event.get("[misp][event_id]")).to eq(["7"])
      expect(event.get("tags")).to be_nil
      down.stop
    end

    it "uses tag_on_failure" do
      down = SpecSupport::MemcachedServer.new
      down.stop
      out = run(plugin("memcached" => [down.addr], "tag_on_failure" => ["mc_down"]), [{ "destination" => { "ip" => "203.0.113.7" } }])
      expect(out.first.get("tags")).to eq(["mc_down"])
    end
  end

  context "with the negative cache" do
    let(:fields) { ["[destination][ip]"] }

    it "keeps a miss for negative_cache_ttl, then finds an indicator added meanwhile" do
      ip = { "destination" => { "ip" => "203.0.113.8" } }
      # Two filters: one whose miss cannot expire during the example (however
      # slow the machine), one whose miss expires after a second.
      long = plugin("negative_cache_ttl" => 600)
      short = plugin("negative_cache_ttl" => 1)
      expect(run(long, [ip]).first.get("misp")).to be_nil
      expect(run(short, [ip]).first.get("misp")).to be_nil
      put("ip", "203.0.113.8", "12#ip-dst")
      expect(run(long, [ip]).first.get("misp")).to be_nil
      sleep 1.2
      expect(run(short, [ip]).first.get("[misp][event_id]")).to eq(["12"])
      expect(run(long, [ip]).first.get("misp")).to be_nil
    end
  end

  context "with a bad configuration" do
    it "says what to write for a field it cannot place" do
      expect { plugin("fields" => ["[foo][bar]"]).register }
        .to raise_error(LogStash::ConfigurationError, /fields => \{ "\[foo\]\[bar\]" => "<namespace>" \}/)
    end

    it "rejects a bad prefix, memcached address, misp_url or timeout" do
      expect { plugin("prefix" => "bad prefix").register }.to raise_error(LogStash::ConfigurationError, /prefix/)
      expect { plugin("memcached" => ["host:notaport"]).register }.to raise_error(LogStash::ConfigurationError, /host:notaport/)
      expect { plugin("misp_url" => "misp.example.org").register }.to raise_error(LogStash::ConfigurationError, /misp_url/)
      expect { plugin("timeout_ms" => 0).register }.to raise_error(LogStash::ConfigurationError, /timeout_ms/)
    end

    it "rejects an unknown domain_match" do
      expect { plugin("domain_match" => "fuzzy") }.to raise_error(LogStash::ConfigurationError)
    end
  end

  it "uses the configured prefix" do
    put("ip", "203.0.113.7", "99#ip-dst", "ti")
    event = run(plugin("prefix" => "ti", "fields" => ["[destination][ip]"]), [{ "destination" => { "ip" => "203.0.113.7" } }]).first
    expect(event.get("[misp][event_id]")).to eq(["99"])
  end

  it "runs single events through filter the same way" do
    put("ip", "203.0.113.7", "7#ip-dst")
    f = plugin("fields" => ["[destination][ip]"])
    f.register
    event = LogStash::Event.new("destination" => { "ip" => "203.0.113.7" })
    f.filter(event)
    expect(event.get("[misp][event_id]")).to eq(["7"])
  end
end
