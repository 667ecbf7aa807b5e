# encoding: utf-8
# Test and benchmark support (never shipped): the seed's Logstash filter chain
# of getting_started.md, rebuilt in plain Ruby so that misp_enrich can be
# compared with it on the same events. For each of the seed's four fields, in
# order: if the field is set, a memcached GET of "%{field}" through Dalli (the
# client inside logstash-filter-memcached) with the field's namespace; if the
# GET hit, process_ioc.rb's parsing: split the value on "," and each part on
# "#", appending the two halves to [misp][event_id] and [misp][type].
require "dalli"

class SeedChain
  FIELDS = [
    ["[destination][ip]", "misp-ip"],
    ["[dns][resolved_ip]", "misp-ip"],
    ["[dns][question][registered_domain]", "misp-domain"],
    ["[hash][sha256]", "misp-sha256"]
  ].freeze

  # servers: ["host:port", ...] as logstash-filter-memcached's `hosts`.
  def initialize(servers, fields = FIELDS)
    # One client per block, as each `memcached {}` stanza makes its own.
    @blocks = fields.map do |field, namespace|
      [field, Dalli::Client.new(servers, namespace: namespace, socket_timeout: 1, down_retry_delay: 30)]
    end
  end

  def filter(event)
    @blocks.each do |field, client|
      value = event.get(field)
      next if value.nil?
      # sprintf("%{field}") joins arrays with ","; the memcached filter GETs that.
      key = value.is_a?(Array) ? value.join(",") : value.to_s
      raw = client.get(key)
      process_ioc(event, raw) if raw
    end
    event
  end

  def close
    @blocks.each { |_, c| c.close }
  end

  private

  # process_ioc.rb, as the seed's README describes it.
  def process_ioc(event, raw)
    raw.to_s.split(",").each do |item|
      id, type = item.split("#")
      if event.get("[misp][event_id]")
        event.set("[misp][event_id]", event.get("[misp][event_id]") + [id])
        event.set("[misp][type]", event.get("[misp][type]") + [type])
      else
        event.set("[misp][event_id]", [id])
        event.set("[misp][type]", [type])
      end
    end
  end
end
