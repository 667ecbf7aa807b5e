# encoding: utf-8
# The misp_enrich filter against a real memcached started with ASCII
# authentication (`memcached -Y <auth file>`): the right login enriches, a
# wrong or missing one tags the events with tag_on_failure without raising,
# and the password shows in no log line, engine stats or error message.
require_relative "../spec_helper"
require "memcached_server"
require "log_capture"
require "logstash/filters/misp_enrich"
require "json"

RSpec.describe LogStash::Filters::MispEnrich do
  user = "misp_enrich"
  password = "Sup3r-s3cret-Pass"

  before(:all) { @memcached = SpecSupport::MemcachedServer.new(auth: [user, password]) }
  after(:all) { @memcached.stop }

  before do
    @plugins = []
    @memcached.flush
    %w[203.0.113.7 198.51.100.9].zip(%w[7#ip-dst 8#ip-src]).each do |ip, entries|
      status, key = MispEnrich::Native.key("ip", ip)
      raise "no key for #{ip}: #{key}" unless status == :ok
      @memcached.set(key, entries)
    end
    @log = SpecSupport::LogCapture.new(self, described_class.logger)
  end
  after { @plugins.each(&:close) }

  def plugin(extra = {})
    f = described_class.new({ "memcached" => [@memcached.addr], "fields" => ["[destination][ip]"],
                              "timeout_ms" => 300 }.merge(extra))
    @plugins << f
    f
  end

  def run(filter, ips)
    SpecSupport::FilterDriver.run(filter, ips.map { |ip| LogStash::Event.new("destination" => { "ip" => ip }) })
  end

  def engine_stats(filter)
    filter.instance_variable_get(:@engine).stats
  end

  # Everything the plugin let out as text: every log line of every logger
  # (with its data), the engine's stats, the plugin's inspect output.
  def all_text(filter)
    [@log.lines, JSON.generate(engine_stats(filter)),
     filter.inspect].flatten.join("\n")
  end

  it "reads the indicators with the right login" do
    f = plugin("memcached_username" => user, "memcached_password" => password)
    hit, miss = run(f, ["203.0.113.7", "192.0.2.1"])
    expect(hit.get("[misp][event_id]")).to eq(["7"])
    expect(hit.get("tags")).to be_nil
    expect(miss.get("misp")).to be_nil
    expect(miss.get("tags")).to be_nil
    server = engine_stats(f)["servers"].first
    expect(server["errors"]).to eq(0)
    expect(server["last_error"]).to be_nil
    expect(@log.lines(:error).grep(/log in/)).to eq([])
    expect(@log.lines(:info).grep(/misp_enrich ready/).size).to eq(1)
    expect(f.memcached_password.to_s).to eq("<password>")
    expect(all_text(f)).not_to include(password)
  end

  [["a wrong password", { "memcached_username" => "misp_enrich", "memcached_password" => "wr0ng-Passw0rd" },
    /refused the user name or password/],
   ["a wrong user name", { "memcached_username" => "someone", "memcached_password" => "Sup3r-s3cret-Pass" },
    /refused the user name or password/],
   ["no login", {}, /asks for a login/]].each do |label, login, reason|
    it "with #{label}, tags every event with tag_on_failure and never raises" do
      f = plugin(login.merge("tag_on_failure" => ["_mc_login"]))
      4.times do |round|
        events = run(f, ["203.0.113.7", "198.51.100.9", "192.0.2.1"])
        expect(events.size).to eq(3)
        events.each do |e|
          expect(e.get("tags")).to eq(["_mc_login"]), "round #{round}"
          expect(e.get("misp")).to be_nil
        end
      end
      # Said once, when the plugin started (its engine read the range index).
      expect(@log.lines(:error).grep(/cannot log in to memcached/).size).to eq(1)
      server = engine_stats(f)["servers"].first
      expect(server["last_error"]).to match(reason)
      expect(engine_stats(f)["ranges"]["last_error"]).to match(reason)
      # Counted like a dead server: the breaker opened and spared the rest.
      expect(server["breaker_opened"]).to be >= 1
      expect(server["breaker_rejected"]).to be >= 1
      text = all_text(f)
      expect(text).not_to include(password)
      expect(text).not_to include(login["memcached_password"]) if login["memcached_password"]
    end
  end

  it "refuses a user name without a password, and the reverse, naming both options" do
    expect { plugin("memcached_username" => user).register }
      .to raise_error(LogStash::ConfigurationError, /memcached_username.*memcached_password.*memcached_password is missing/)
    expect { plugin("memcached_password" => password).register }
      .to raise_error(LogStash::ConfigurationError, /memcached_username is missing/)
  end

  it "refuses a password the login line cannot carry, without quoting it" do
    bad = "has a-space-in-it"
    error = nil
    begin
      plugin("memcached_username" => user, "memcached_password" => bad).register
    rescue LogStash::ConfigurationError => e
      error = e
    end
    expect(error).not_to be_nil
    expect(error.message).to match(/without spaces or control characters/)
    expect(error.message).not_to include(bad)
  end
end
