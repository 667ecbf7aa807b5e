# encoding: utf-8
# Which namespace each configured field is looked up in.
require_relative "../spec_helper"
require "logstash/filters/misp_enrich/field_map"

RSpec.describe MispEnrich::FieldMap do
  def namespaces(config)
    described_class.new(config, MispEnrich::Native.namespaces).fields.map { |f| [f.reference, f.namespace] }
  end

  context "when fields are well-known ECS names" do
    it "infers the namespace of the seed's four fields" do
      expect(namespaces(["[destination][ip]", "[dns][resolved_ip]", "[dns][question][registered_domain]", "[hash][sha256]"]))
        .to eq([["[destination][ip]", "ip"], ["[dns][resolved_ip]", "ip"],
                ["[dns][question][registered_domain]", "domain"], ["[hash][sha256]", "sha256"]])
    end

    it "infers hashes, PE imphash, URLs, TLS, registry, e-mail and Sysmon's Hashes" do
      cases = {
        "[source][ip]" => "ip", "[client][ip]" => "ip", "[related][ip]" => "ip",
        "[dns][question][name]" => "domain", "[url][domain]" => "domain", "[destination][domain]" => "domain",
        "[url][full]" => "url", "[url][original]" => "url",
        "[file][hash][md5]" => "md5", "[process][hash][sha1]" => "sha1", "[process][parent][hash][sha512]" => "sha512",
        "[dll][hash][sha256]" => "sha256", "[file][hash][ssdeep]" => "ssdeep",
        "[file][pe][imphash]" => "imphash", "[dll][pe][imphash]" => "imphash",
        "[tls][client][ja3]" => "ja3", "[tls][server][hash][sha1]" => "x509-sha1",
        "[user_agent][original]" => "user-agent", "[registry][path]" => "regkey",
        "[email][from][address]" => "email", "[winlog][event_data][Hashes]" => "hashes"
      }
      expect(namespaces(cases.keys).to_h).to eq(cases)
    end
  end

  context "when namespaces are given explicitly" do
    it "takes a hash of field => namespace" do
      expect(namespaces("[file][name]" => "named-pipe", "[destination][ip]" => "ip"))
        .to eq([["[file][name]", "named-pipe"], ["[destination][ip]", "ip"]])
    end
  end

  context "when the configuration is wrong" do
    def error_for(config)
      described_class.new(config, MispEnrich::Native.namespaces)
      nil
    rescue LogStash::ConfigurationError => e
      e.message
    end

    it "says what to write for an unknown field" do
      expect(error_for(["[foo][bar]"])).to include('fields => { "[foo][bar]" => "<namespace>" }')
    end

    it "rejects unknown namespaces, bad references, duplicates and empty lists" do
      expect(error_for("[a]" => "sha3")).to include("unknown namespace `sha3`")
      expect(error_for(["[a"])).to include("not a valid field reference")
      expect(error_for(["[destination][ip]", "[destination][ip]"])).to include("more than once")
      expect(error_for([])).to include("empty")
      expect(error_for(42)).to include("must be a list")
    end
  end

  it "warns when a dotted name refers to a literal top-level field" do
    map = described_class.new(["destination.ip"], MispEnrich::Native.namespaces)
    expect(map.fields.first.namespace).to eq("ip")
    expect(map.warnings.first).to include("[destination][ip]")
  end
end
