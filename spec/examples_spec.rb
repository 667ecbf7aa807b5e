# encoding: utf-8
# The example pipeline in examples/logstash uses only fields the plugin can place.
require_relative "spec_helper"
require "logstash/filters/misp_enrich/field_map"

RSpec.describe "examples/logstash/02-filter.conf" do
  it "names fields that all resolve to a namespace" do
    conf = File.read(File.expand_path("../examples/logstash/02-filter.conf", __dir__))
    fields = conf[/fields\s*=>\s*\[(.*?)\]\s*\n/m, 1].scan(/"([^"]+)"/).flatten
    expect(fields.size).to be >= 4
    map = MispEnrich::FieldMap.new(fields, MispEnrich::Native.namespaces)
    expect(map.fields.map(&:namespace)).to all(be_a(String))
    expect(map.fields.find { |f| f.reference == "[winlog][event_data][Hashes]" }.namespace).to eq("hashes")
  end
end
