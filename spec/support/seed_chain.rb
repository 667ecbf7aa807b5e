# encoding: utf-8
# Test and benchmark support (never shipped): the seed's Logstash filter chain
# of getting_started.md, rebuilt in plain Ruby so that misp_enrich can be
# compared with it on the same events. For each of the seed's four fields, in
# order: if the field is set, a memcached GET of "%{field}" through Dalli (the
# client inside logstash-filter-memcached) with the field's namespace; if the
# GET hit, the value goes to [enrich][tmp], examples/seed/process_ioc.rb (the
# seed's script, the very file the real-Logstash runs use) parses it, and
# [enrich] is removed again, as the seed's mutate block does.
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
    @script = self.class.script
  end

  def filter(event)
    @blocks.each do |field, client|
      value = event.get(field)
      next if value.nil?
      # sprintf("%{field}") joins arrays with ","; the memcached filter GETs that.
      key = value.is_a?(Array) ? value.join(",") : value.to_s
      raw = client.get(key)
      next unless raw
      event.set("[enrich][tmp]", raw)
      @script.filter(event)
      event.remove("[enrich]")
    end
    event
  end

  def close
    @blocks.each { |_, c| c.close }
  end

  # examples/seed/process_ioc.rb's `filter`, loaded once into an object of
  # its own (the ruby filter's `path` scripts define a top-level `filter`).
  SCRIPT = File.expand_path("../../examples/seed/process_ioc.rb", __dir__)

  def self.script
    mod = Module.new
    mod.module_eval(File.read(SCRIPT), SCRIPT)
    Object.new.extend(mod)
  end
end
