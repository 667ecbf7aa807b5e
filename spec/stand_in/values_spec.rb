# encoding: utf-8
# The stand-in's deep copy of event values (LogStashStandIn::Values): deep
# nesting is copied without deep recursion, and the cycle check (the
# containers on the current path) tells containers apart by identity only:
# it never hashes contents (which recurses), and colliding identity hash
# codes do not make a container look "seen".
require_relative "../spec_helper"
require "logstash_stand_in"

RSpec.describe LogStashStandIn::Values do
  deep = 10_000

  # [[[ ... ["bottom"] ... ]]], depth arrays in all.
  def nested_arrays(depth)
    root = []
    current = root
    (depth - 1).times do
      child = []
      current << child
      current = child
    end
    current << "bottom"
    root
  end

  # Walks source and copy side by side; returns the depth reached and the
  # leaf. Fails on the first level where the copy shares a container with the
  # source or differs in shape.
  def walk_pair(source, copy)
    depth = 0
    while source.is_a?(Array) || source.is_a?(Hash)
      depth += 1
      expect(copy).to be_a(source.class)
      expect(copy).not_to equal(source)
      expect(copy.size).to eq(source.size)
      source = source.is_a?(Hash) ? source.values.first : source.first
      copy = copy.is_a?(Hash) ? copy.values.first : copy.first
    end
    [depth, copy]
  end

  %i(valuefy rubyfy clone_tree).each do |mode|
    it "#{mode} copies #{deep}-deep arrays level by level" do
      source = nested_arrays(deep)
      depth, leaf = walk_pair(source, described_class.public_send(mode, source))
      expect(depth).to eq(deep)
      expect(leaf).to eq("bottom")
    end
  end

  it "copies #{deep} levels alternating Hash and Array" do
    root = {}
    current = root
    deep.times do |i|
      child = i.even? ? [] : {}
      if current.is_a?(Hash)
        current["k"] = child
      else
        current << child
      end
      current = child
    end
    if current.is_a?(Hash)
      current["leaf"] = "bottom"
    else
      current << "bottom"
    end
    depth, leaf = walk_pair(root, described_class.clone_tree(root))
    expect(depth).to eq(deep + 1)
    expect(leaf).to eq("bottom")
  end

  it "stores, reads, clones and renders #{deep}-deep arrays through LogStash::Event" do
    event = LogStash::Event.new("d" => nested_arrays(deep))
    reference = "[d]" + ("[0]" * (deep - 1)) + "[0]"
    expect(event.get(reference)).to eq("bottom")
    expect(event.clone.get(reference)).to eq("bottom")
    expect(walk_pair(event.get("d"), event.to_hash["d"]).first).to eq(deep)
    json = event.to_json
    expect(json).to include("[" * deep + '"bottom"' + "]" * deep)
  end

  it "copies the same container met twice off the current path, as two copies" do
    shared = ["s"]
    root = [shared, [shared], { "again" => shared }]
    copy = described_class.valuefy(root)
    expect(copy).to eq([["s"], [["s"]], { "again" => ["s"] }])
    expect(copy[0]).not_to equal(shared)
    expect(copy[0]).not_to equal(copy[1][0])
  end

  it "copies containers whose identity hash codes collide, one inside the other" do
    skip "identity hash codes are JVM ones" unless defined?(JRUBY_VERSION)
    by_code = {}
    pair = nil
    # identityHashCode has 31 bits or fewer: a collision turns up within a
    # few hundred thousand arrays (birthday bound).
    2_000_000.times do
      array = []
      code = java.lang.System.identity_hash_code(array)
      if (earlier = by_code[code])
        pair = [earlier, array]
        break
      end
      by_code[code] = array
    end
    by_code = nil
    expect(pair).not_to be_nil
    outer, inner = pair
    expect(java.lang.System.identity_hash_code(outer)).to eq(java.lang.System.identity_hash_code(inner))
    # Deep enough for the iterative walk (shallow trees may be copied by
    # plain recursion, which keeps no set at all).
    wrap = lambda do |value, levels|
      levels.times { value = [value] }
      value
    end
    inner << "leaf"
    outer << wrap.call(inner, 100)
    root = { "x" => wrap.call(outer, 100) }
    expected = { "x" => wrap.call([wrap.call(["leaf"], 100)], 100) }
    %i(valuefy rubyfy clone_tree).each do |mode|
      expect(described_class.public_send(mode, root)).to eq(expected)
    end
    event = LogStash::Event.new(root)
    expect(event.get("[x]" + "[0]" * 100 + "[0]" + "[0]" * 100 + "[0]")).to eq("leaf")
  end

  it "still refuses a cycle, however deep, through Arrays and Hashes" do
    root = nested_arrays(deep)
    bottom = root
    bottom = bottom.first while bottom.first.is_a?(Array)
    bottom << { "back" => root }
    %i(valuefy rubyfy clone_tree).each do |mode|
      expect { described_class.public_send(mode, root) }.to raise_error(SystemStackError, /self-referencing/)
    end
    expect { LogStash::Event.new("d" => root) }.to raise_error(SystemStackError)
  end
end
