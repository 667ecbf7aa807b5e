# encoding: utf-8
# misp_enrich against the seed's setup: values written the seed's way are
# found (also spread over three servers by Dalli's ring), and on the seed's
# four fields the output equals what the seed's memcached + process_ioc.rb
# chain produces.
require_relative "../spec_helper"
require "memcached_server"
require "seed_chain"
require "logstash/filters/misp_enrich"

RSpec.describe "misp_enrich compared with the seed's pipeline" do
  before(:all) { @servers = Array.new(3) { SpecSupport::MemcachedServer.new } }
  after(:all) { @servers.each(&:stop) }

  let(:addrs) { @servers.map(&:addr) }

  # What the seed's loader writes: raw strings (flags 0), key namespace:value.
  def seed_write(pairs)
    dalli = Dalli::Client.new(addrs)
    pairs.each { |key, value| dalli.set(key, value, 0, raw: true) }
    dalli.close
  end

  def enrich(events, fields)
    filter = LogStash::Filters::MispEnrich.new("memcached" => addrs, "fields" => fields, "domain_match" => "exact")
    out = SpecSupport::FilterDriver.run(filter, events.map { |e| LogStash::Event.new(e) })
    filter.close
    out
  end

  it "finds keys that Dalli spread over three servers" do
    ips = Array.new(300) { |i| "10.9.#{i / 250}.#{i % 250}" }
    seed_write(ips.each_with_index.map { |ip, i| ["misp-ip:#{ip}", "#{i + 1}#ip-dst"] })
    # The keys really are on several servers.
    expect(@servers.map { |s| s.keys.size }.count(&:positive?)).to eq(3)
    out = enrich(ips.map { |ip| { "destination" => { "ip" => ip } } }, ["[destination][ip]"])
    expect(out.map { |e| e.get("[misp][event_id]") }).to eq(Array.new(300) { |i| [(i + 1).to_s] })
  end

  it "gives the seed chain's [misp][event_id] and [misp][type] on the seed's four fields" do
    seed_write([
      ["misp-ip:203.0.113.7", "7#ip-dst,9#ip-dst|port"],
      ["misp-ip:198.51.100.2", "8#domain|ip"],
      ["misp-domain:evil.example", "1#domain,2#domain"],
      ["misp-sha256:#{'ab' * 32}", "3#sha256,4#filename|sha256"]
    ])
    events = [
      { "destination" => { "ip" => "203.0.113.7" }, "dns" => { "resolved_ip" => ["198.51.100.2"] } },
      { "dns" => { "question" => { "registered_domain" => "evil.example" }, "resolved_ip" => ["198.51.100.2"] } },
      { "hash" => { "sha256" => "ab" * 32 }, "destination" => { "ip" => "192.0.2.1" } },
      { "destination" => { "ip" => "203.0.113.7" }, "hash" => { "sha256" => "ab" * 32 },
        "dns" => { "question" => { "registered_domain" => "evil.example" } } },
      { "message" => "nothing to see" }
    ]
    seed = SeedChain.new(addrs)
    expected = events.map { |e| seed.filter(LogStash::Event.new(e)) }
    seed.close
    ours = enrich(events, SeedChain::FIELDS.map(&:first))
    expected.zip(ours).each do |want, got|
      expect(got.get("[misp][event_id]")).to eq(want.get("[misp][event_id]"))
      expect(got.get("[misp][type]")).to eq(want.get("[misp][type]"))
    end
    expect(ours[3].get("[misp][event_id]")).to eq(%w[7 9 1 2 3 4])
  end
end
