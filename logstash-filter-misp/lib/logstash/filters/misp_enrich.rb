# encoding: utf-8
# The misp_enrich filter: one stanza that looks every configured field of
# every event of a Logstash batch up in memcached, where misp-load keeps MISP's
# IDS indicators, and writes what matched onto the event. The work is done by
# the native library (rust/engine through rust/ffi), in one call per batch:
# the plugin's Java part (jvm.rb, BatchReader) reads the configured fields of
# the batch straight from the Java events and makes that call through JNI;
# this file keeps the configuration, metrics and logging, and writes the
# results onto the few events that matched.
require "logstash/filters/base"
require "logstash/namespace"
require "logstash/plugin_mixins/ecs_compatibility_support"
require "json"
require "logstash/filters/misp_enrich/native"
require "logstash/filters/misp_enrich/field_map"
require "logstash/filters/misp_enrich/writer"

class LogStash::Filters::MispEnrich < LogStash::Filters::Base
  Native = ::MispEnrich::Native
  FieldMap = ::MispEnrich::FieldMap
  Writer = ::MispEnrich::Writer

  # `threat.enrichments` is written with ECS v1 and v8 (v8 adds the fields
  # ECS 8 brought: marking.tlp_version, indicator.name, more hashes).
  include LogStash::PluginMixins::ECSCompatibilitySupport(:disabled, :v1, :v8)

  config_name "misp_enrich"

  # memcached servers, `host:port` (port 11211 when omitted). With several,
  # keys are spread by the consistent-hashing rule misp-load uses: list the
  # same `host:port` strings in both.
  config :memcached, :validate => :array, :default => ["127.0.0.1:11211"]

  # Login for memcached started with ASCII authentication (`memcached -Y
  # <auth file>`, lines `user:password`): every new connection logs in first.
  # Set both or neither. The password never reaches a log line or the stats.
  config :memcached_username, :validate => :string
  config :memcached_password, :validate => :password

  # Key prefix: keys are `<prefix>-<namespace>:<value>` (the seed's `misp`).
  config :prefix, :validate => :string, :default => "misp"

  # The fields to look up: a list of field references whose namespace is
  # inferred from their ECS name (`[destination][ip]` → ip, `[hash][sha256]`
  # → sha256, ...), or a hash of field reference => namespace.
  config :fields, :required => true

  # Where results go: `[<target>][event_id]`, `[<target>][type]`, ...
  config :target, :validate => :string, :default => "misp"

  # Base URL of the MISP web interface; when set, each match gets a link
  # `<misp_url>/events/view/<event id>` in `[<target>][url]`.
  config :misp_url, :validate => :string

  # `suffix`: a domain also matches indicators on its parent domains (label
  # boundaries, never a public suffix); `exact`: only the name itself.
  config :domain_match, :validate => ["suffix", "exact"], :default => "suffix"

  # Most lookups answered from the in-process cache (found and not found).
  config :cache_size, :validate => :number, :default => 100_000

  # Seconds a found indicator is answered from the cache.
  config :cache_ttl, :validate => :number, :default => 300

  # Seconds a "not an indicator" answer is kept: a new indicator is found at
  # most this long after misp-load wrote it.
  config :negative_cache_ttl, :validate => :number, :default => 60

  # Bound, in milliseconds, on the memcached work of one batch. Events whose
  # values could not be looked up in time pass on, tagged with `tag_on_failure`.
  config :timeout_ms, :validate => :number, :default => 500

  # Seconds between reloads of the CIDR range index misp-load writes.
  config :range_refresh_interval, :validate => :number, :default => 300

  # Seconds a memcached server is not asked after repeated failures (its
  # circuit breaker is open: its lookups fail at once); then one probe.
  config :breaker_backoff, :validate => :number, :default => 5

  # Tags added to events that matched.
  config :tag_on_match, :validate => :array, :default => []

  # Tags added to events whose lookup failed (memcached down or slow).
  config :tag_on_failure, :validate => :array, :default => ["_misp_enrich_failure"]

  # Elements looked up per field of one event; the rest of a longer array is skipped.
  # (Which values are looked up: BatchReader.java, the Java part of the plugin.)
  MAX_ELEMENTS = 1_000
  # Seconds between copies of the engine's counters into the plugin's
  # gauges (under the `engine` namespace of the plugin's metrics).
  GAUGE_INTERVAL = 5
  ENGINE_GAUGES = %w[lookups cache_hits cache_misses matches errors].freeze

  def register
    @field_map = FieldMap.new(@fields, Native.namespaces)
    @field_map.warnings.each { |w| logger.warn("misp_enrich: #{w}") }
    @fields_list = @field_map.fields
    validate_numbers
    misp_url = @misp_url.to_s.strip.chomp("/")
    if !misp_url.empty? && misp_url !~ %r{\Ahttps?://[^\s/]+}
      raise LogStash::ConfigurationError, "misp_enrich: `misp_url` must start with http:// or https://, got #{@misp_url.inspect}"
    end
    @writer = Writer.new(@target, misp_url.empty? ? nil : misp_url, ecs_compatibility)
    @engine = create_engine
    @reader = Native::JVM.reader(@fields_list.map(&:reference), @fields_list.map(&:namespace), MAX_ELEMENTS)
    @next_gauges = Time.now.to_f
    logger.info("misp_enrich ready", :native => Native.version, :servers => @memcached,
                                     :fields => @fields_list.map { |f| "#{f.reference}=#{f.namespace}" })
  rescue Native::LoadError => e
    # No library for this platform, or one that cannot load: a setting
    # problem for Logstash (the pipeline does not start; the line says why).
    # The library's messages already start with the plugin's name.
    raise LogStash::ConfigurationError, e.message.start_with?("misp_enrich") ? e.message : "misp_enrich: #{e.message}"
  end

  def filter(event)
    multi_filter([event])
    nil
  end

  def multi_filter(events)
    return events if events.empty?
    # Every value of every configured field, encoded in Java (no Ruby
    # object per value); slot n of the batch is one value.
    batch = @reader.read(events)
    return events if batch.empty?
    result = lookup(batch)
    if result
      apply(events, batch, result)
    else
      batch.events_with_values.each { |index| fail_event(events[index]) }
    end
    report_gauges
    events
  rescue => e
    # Nothing may raise into the pipeline: the batch passes on, and the
    # events that had values to look up are tagged.
    logger.error("misp_enrich: batch not enriched", :error => e.message, :class => e.class.name)
    (batch ? batch.events_with_values.map { |i| events[i] } : events).each { |ev| fail_event(ev) }
    events
  end

  def close
    @engine.close if @engine
  end

  private

  def validate_numbers
    { "cache_size" => [@cache_size, 0], "range_refresh_interval" => [@range_refresh_interval, 0],
      "cache_ttl" => [@cache_ttl, nil], "negative_cache_ttl" => [@negative_cache_ttl, nil],
      "timeout_ms" => [@timeout_ms, nil], "breaker_backoff" => [@breaker_backoff, nil] }.each do |name, (value, zero_ok)|
      next if value > 0 || (zero_ok && value == 0)
      raise LogStash::ConfigurationError,
            "misp_enrich: `#{name}` must be #{zero_ok ? 'zero or more' : 'more than zero'}, got #{value}"
    end
  end

  def create_engine
    timeout = @timeout_ms.to_i
    config = {
      "servers" => @memcached, "prefix" => @prefix,
      "connect_timeout_ms" => [100, [timeout / 2, 1].max].min,
      "io_timeout_ms" => [timeout / 2, 1].max,
      "batch_timeout_ms" => timeout,
      "cache_size" => @cache_size.to_i, "cache_ttl_ms" => (@cache_ttl * 1000).to_i,
      "negative_ttl_ms" => (@negative_cache_ttl * 1000).to_i,
      "domain_match" => @domain_match, "range_refresh_ms" => (@range_refresh_interval * 1000).to_i,
      "breaker_backoff_ms" => [(@breaker_backoff * 1000).round, 1].max
    }.merge(memcached_login)
    engine = Native::Engine.new(config)
    # Creating the engine read the range index once: a refused login shows there.
    refused = engine.stats.fetch("ranges", {})["last_error"].to_s
    if refused.include?("authentication failed")
      logger.error("misp_enrich: cannot log in to memcached; events will be tagged with tag_on_failure until " \
                   "`memcached_username` and `memcached_password` match a line of its auth file", :error => refused)
    end
    engine
  rescue Native::Error => e
    raise LogStash::ConfigurationError, "misp_enrich: invalid settings: #{e.message}"
  end

  # The engine's "username"/"password" (both or neither; empty is unset).
  def memcached_login
    username = @memcached_username.to_s
    password = @memcached_password ? @memcached_password.value.to_s : ""
    return {} if username.empty? && password.empty?
    if username.empty? || password.empty?
      raise LogStash::ConfigurationError,
            "misp_enrich: set both `memcached_username` and `memcached_password`, or neither " \
            "(#{username.empty? ? 'memcached_username' : 'memcached_password'} is missing)"
    end
    { "username" => username, "password" => password }
  end

  def lookup(batch)
    result = @engine.lookup_batch(batch)
    metric.increment(:lookups, batch.size)
    result
  rescue Native::Error, Native::ClosedError, ArgumentError => e
    logger.warn("misp_enrich: lookup failed", :error => e.message)
    nil
  end

  # Writes each event's matches and tags; an event that cannot take them
  # (say `[misp]` holds a string) is tagged with tag_on_failure alone.
  def apply(events, batch, result)
    by_event = Hash.new { |h, k| h[k] = [] }
    failed = {}
    size = batch.size
    result.slots.each do |slot, slot_result|
      next if slot >= size
      index = batch.event(slot)
      failed[index] = true if slot_result.failed
      next if slot_result.matches.empty?
      field = @fields_list[batch.field(slot)]
      value = batch.value(slot)
      slot_result.matches.each { |m| by_event[index] << [slot, field, value, m] }
    end
    matched = 0
    by_event.each do |index, matches|
      event = events[index]
      begin
        matches.sort_by!(&:first)
        @writer.write(event, matches, result.events)
      rescue => e
        logger.debug("misp_enrich: cannot write the matches onto an event", :error => e.message, :class => e.class.name)
        failed[index] = true
        next
      end
      matched += 1
      tag(event, @tag_on_match)
      filter_matched(event)
    end
    failed.each_key { |index| fail_event(events[index]) }
    metric.increment(:matches, matched) if matched > 0
  end

  def fail_event(event)
    metric.increment(:failures)
    tag(event, @tag_on_failure)
  rescue => e
    logger.debug("misp_enrich: cannot tag an event", :error => e.message)
  end

  def tag(event, tags)
    tags.each { |t| event.tag(t) }
  end

  def report_gauges
    now = Time.now.to_f
    return if now < @next_gauges
    @next_gauges = now + GAUGE_INTERVAL
    stats = @engine.stats
    engine_metric = metric.namespace(:engine)
    ENGINE_GAUGES.each do |name|
      engine_metric.gauge(name.to_sym, stats[name]) if stats.key?(name)
    end
  rescue => e
    logger.debug("misp_enrich: cannot read engine stats", :error => e.message)
  end
end
