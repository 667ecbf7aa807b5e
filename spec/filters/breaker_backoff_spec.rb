# encoding: utf-8
# The misp_enrich filter's `breaker_backoff`: how long a memcached server
# that kept failing is left alone before one probe, against a real memcached
# that these specs stop and restart.
require_relative "../spec_helper"
require "memcached_server"
require "logstash/filters/misp_enrich"

RSpec.describe LogStash::Filters::MispEnrich do
  before do
    @plugins = []
    @memcached = SpecSupport::MemcachedServer.new
  end
  after do
    @plugins.each(&:close)
    @memcached.stop
  end

  def plugin(extra = {})
    # No cache: every batch asks memcached (or is refused by the breaker).
    f = described_class.new({ "memcached" => [@memcached.addr], "fields" => ["[destination][ip]"],
                              "timeout_ms" => 300, "cache_size" => 0 }.merge(extra))
    @plugins << f
    f
  end

  def run(filter)
    SpecSupport::FilterDriver.run(filter, [LogStash::Event.new("destination" => { "ip" => "203.0.113.7" })]).first
  end

  def server_stats(filter)
    filter.instance_variable_get(:@engine).stats["servers"].first
  end

  # Stops memcached and runs batches until the breaker opens (the engine's
  # default: after 3 consecutive failures); then restarts it with the
  # indicator stored. Returns when the restarted server is up.
  def open_the_breaker(filter)
    expect(run(filter).get("tags")).to be_nil
    @memcached.stop
    10.times do
      expect(run(filter).get("tags")).to eq(["_misp_enrich_failure"])
      break if server_stats(filter)["breaker"] == "open"
    end
    expect(server_stats(filter)["breaker"]).to eq("open")
    @memcached.start
    status, key = MispEnrich::Native.key("ip", "203.0.113.7")
    raise key unless status == :ok
    @memcached.set(key, "7#ip-dst")
  end

  it "asks a failing server again after breaker_backoff seconds" do
    f = plugin("breaker_backoff" => 0.3)
    open_the_breaker(f)
    opened_at = Time.now
    sleep 0.5
    event = run(f)
    expect(event.get("tags")).to be_nil
    expect(event.get("[misp][event_id]")).to eq(["7"])
    expect(server_stats(f)["breaker"]).to eq("closed")
    # Well before the default backoff (5 s) would have let a probe through.
    expect(Time.now - opened_at).to be < 4
  end

  it "leaves a failing server alone for the whole breaker_backoff" do
    f = plugin("breaker_backoff" => 30)
    open_the_breaker(f)
    rejected = server_stats(f)["breaker_rejected"]
    # The server is back, but the breaker does not ask it yet.
    3.times do
      expect(run(f).get("tags")).to eq(["_misp_enrich_failure"])
      sleep 0.3
    end
    expect(server_stats(f)["breaker"]).to eq("open")
    expect(server_stats(f)["breaker_rejected"]).to be >= rejected + 3
  end

  it "refuses a breaker_backoff of zero or less" do
    [0, -1].each do |bad|
      expect { plugin("breaker_backoff" => bad).register }
        .to raise_error(LogStash::ConfigurationError, /`breaker_backoff` must be more than zero/)
    end
  end
end
