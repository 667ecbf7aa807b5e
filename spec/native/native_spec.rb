# encoding: utf-8
# The first FFI path: the real library, loaded by absolute path, answering
# real questions. These fail if the library computes a wrong key.
require_relative "../spec_helper"
require "digest"

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
end
