# encoding: utf-8
# The first FFI path: the real library, loaded by absolute path, answering
# real questions. These fail if the library computes a wrong key.
require_relative "../spec_helper"
require "digest"
require "open3"
require "rbconfig"
require "logstash/filters/misp_enrich"

RSpec.describe MispEnrich::Native do
  let(:native) { described_class }

  it "loads the bundled library by absolute path" do
    expect(native.library_path).to start_with("/")
    expect(File.file?(native.library_path)).to be true
  end

  it "reports the version of the Rust workspace" do
    cargo = File.read(File.expand_path("../../Cargo.toml", __dir__))
    expect(native.version).to eq(cargo[/^version = "([^"]+)"/, 1])
  end

  context "when a Sysmon hash meets its MISP form" do
    let(:sysmon) { "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855" }

    it "gives the same key for the upper-case and the lower-case hash" do
      upper = native.key("sha256", sysmon)
      lower = native.key("sha256", sysmon.downcase)
      expect(upper).to eq([:ok, "misp-sha256:#{sysmon.downcase}"])
      expect(lower).to eq(upper)
    end

    it "uses the configured prefix" do
      expect(native.key("sha256", sysmon, "ti")).to eq([:ok, "ti-sha256:#{sysmon.downcase}"])
    end
  end

  it "keeps the seed's keys for the seed's example" do
    expect(native.key("domain", "trencansky.sk")).to eq([:ok, "misp-domain:trencansky.sk"])
    expect(native.key("domain", "Trencansky.SK.")).to eq([:ok, "misp-domain:trencansky.sk"])
  end

  it "maps values that cannot be keys to the documented digest form" do
    hostile = "evil.example/a\r\nflush_all\r\n"
    status, key = native.key("url", hostile)
    # The URL rule first: control characters make it invalid, never a key.
    expect(status).to eq(:invalid_value)
    expect(key).not_to include("\r")
    ua = "Mozilla/5.0 (Windows NT 10.0) evil"
    expect(native.key("user-agent", ua)).to eq([:ok, "misp-user-agent:~sha256:#{Digest::SHA256.hexdigest(ua)}"])
  end

  it "canonicalises IPs and reports ranges" do
    expect(native.key("ip", "::FFFF:10.0.0.1")).to eq([:ok, "misp-ip:10.0.0.1"])
    expect(native.key("ip", "10.1.2.3/16")).to eq([:range, "10.1.0.0/16"])
  end

  it "returns a status and a message for bad input, never raising" do
    status, message = native.key("sha256", "not-a-hash")
    expect(status).to eq(:invalid_value)
    expect(message).to include("64-digit hex sha256")
    expect(native.key("sha3", "x").first).to eq(:unknown_namespace)
    expect(native.key("ip", "\xff\xfe".b).first).to eq(:not_utf8)
    expect(native.key("ip", "1.2.3.4", "bad prefix").first).to eq(:invalid_prefix)
    expect(native.key("user-agent", "x" * 2_000_000).first).to eq(:invalid_value)
  end

  describe ".load!" do
    lib = File.expand_path("../../logstash-filter-misp/lib", __dir__)

    # Two pipelines registering at once both call load! first. In a fresh
    # JRuby (this one has the library loaded already), two threads start
    # load! together while ffi_lib is slowed down to widen the window: the
    # library is opened once, and neither thread returns before the
    # functions are attached.
    it "opens the library once when two threads load it at the same moment" do
      script = <<~'RUBY'
        require "logstash/filters/misp_enrich/native"
        opened = Queue.new
        slow = Module.new do
          define_method(:ffi_lib) { |*args| opened << args; sleep 0.3; super(*args) }
        end
        MispEnrich::Native::Functions.singleton_class.prepend(slow)
        start = Queue.new
        threads = Array.new(2) do
          Thread.new do
            start.pop
            MispEnrich::Native.load!
            MispEnrich::Native.version
          end
        end
        2.times { start << :go }
        versions = threads.map(&:value)
        puts "opened=#{opened.size} versions=#{versions.uniq.join(',')}"
      RUBY
      out, status = Open3.capture2e({ "MISP_ENRICH_LIB" => native.library_path }, RbConfig.ruby, "-I", lib, "-e", script)
      expect(status.success?).to be(true), out
      expect(out.lines.last.strip).to eq("opened=1 versions=#{native.version}")
    end
  end

  context "on a platform the gem carries no library for" do
    # As if JRuby's FFI reported linux-aarch64, and nothing were loaded yet.
    around do |example|
      loaded = native.instance_variable_get(:@loaded)
      native.instance_variable_set(:@loaded, false)
      begin
        example.run
      ensure
        native.instance_variable_set(:@loaded, loaded)
      end
    end

    before do
      allow(native).to receive(:platform).and_return("linux-aarch64")
      allow(ENV).to receive(:[]).and_call_original
      allow(ENV).to receive(:[]).with("MISP_ENRICH_LIB").and_return(nil)
    end

    it "makes register fail with one line: the platform, what the gem carries, how to build it" do
      filter = LogStash::Filters::MispEnrich.new("memcached" => ["127.0.0.1:11211"], "fields" => ["[destination][ip]"])
      expect { filter.register }.to raise_error(LogStash::ConfigurationError) { |e|
        expect(e.message.lines.size).to eq(1)
        expect(e.message).to include("no native library for linux-aarch64",
                                     "this gem carries: #{native.bundled_platforms.join(', ')}",
                                     "`scripts/vendor aarch64-unknown-linux-gnu` then `jruby -S rake gem`")
      }
    end
  end
end
