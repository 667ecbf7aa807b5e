# encoding: utf-8
# A plugin skeleton written the way a real Logstash filter is, run end to end
# under the stand-in: config DSL, register, filter, filter_matched, logger,
# metric, ecs_compatibility, the batch helper. If the stand-in broke the
# plugin contract, this is where a plugin author would notice first.
require_relative "../spec_helper"
require "logstash_stand_in"
require "logstash/filters/base"
require "logstash/namespace"

module LogStash
  module Filters
    # Test-only: upper-cases configured fields.
    class Upcase < LogStash::Filters::Base
      config_name "upcase"

      config :fields, :validate => :array, :required => true
      config :target, :validate => :field_reference
      config :max_length, :validate => :number, :default => 64
      config :tag_on_skip, :validate => :string, :default => "_upcase_skipped"

      def register
        @target ||= ecs_compatibility == :disabled ? nil : "[upcase]"
        @logger.info("upcase registered", :fields => @fields, :ecs => ecs_compatibility)
      end

      def filter(event)
        changed = 0
        @fields.each do |field|
          value = event.get(field)
          next unless value.is_a?(String)
          if value.length > @max_length
            event.tag(@tag_on_skip)
            @logger.warn("value too long", :field => field, :length => value.length)
            next
          end
          destination = @target ? "#{@target}[#{field.delete('[]')}]" : field
          event.set(destination, value.upcase)
          changed += 1
        end
        metric.increment(:upcased, changed) if changed > 0
        filter_matched(event) if changed > 0
      end
    end
  end
end

RSpec.describe LogStash::Filters::Upcase do
  let(:config) { { "fields" => ["message", "[user][name]"], "add_tag" => ["upcased_%{[user][id]}"] } }
  let(:metric) { LogStashStandIn::RecordingMetric.new }
  subject(:plugin) { described_class.new(config) }

  it "runs the configured fields through, tagging via filter_matched" do
    results = LogStashStandIn.run_batch(plugin, [{ "message" => "hello", "user" => { "name" => "ann", "id" => 7 } }],
                                        :metric => metric)
    event = results.first
    expect(event.get("[upcase][message]")).to eq("HELLO")
    expect(event.get("[upcase][username]")).to eq("ANN")
    expect(event.get("message")).to eq("hello")
    expect(event.get("tags")).to eq(["upcased_7"])
    expect(metric.counter_value(:upcased)).to eq(2)
  end

  it "writes in place when ECS compatibility is disabled in the pipeline" do
    LogStashStandIn.pipeline_ecs_compatibility = :disabled
    event = LogStashStandIn.sample(plugin, "message" => "quiet")
    expect(event.get("message")).to eq("QUIET")
    expect(event.include?("upcase")).to be false
  end

  it "leaves unmatched events untouched (no filter_matched)" do
    event = LogStashStandIn.sample(plugin, "other" => "x")
    expect(event.include?("tags")).to be false
    expect(metric.counter_value(:upcased)).to be_nil
  end

  it "logs and tags values it skips" do
    event = LogStashStandIn.sample(described_class.new("fields" => ["message"], "max_length" => "3"), "message" => "long")
    expect(event.get("tags")).to eq(["_upcase_skipped"])
    expect(described_class.logger.logged?(:warn, "value too long")).to be true
    expect(described_class.logger.messages(:info).map(&:message)).to include("upcase registered")
  end

  it "fails at initialize on a bad config, before register" do
    expect { described_class.new("fields" => ["message"], "target" => "up[case]") }
      .to raise_error(LogStash::ConfigurationError)
    expect { described_class.new({}) }.to raise_error(LogStash::ConfigurationError)
    expect(described_class.logger.logged?(:error, /fields => # SETTING MISSING/)).to be true
  end
end
