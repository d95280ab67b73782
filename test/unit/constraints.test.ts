import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { matchesConstraints } from '../../api/constraints.js';
import { node } from './builders.js';

describe('matchesConstraints', () => {
  const east = node('h1', { zone: 'east', 'disk.type': 'ssd' });
  const bare = node('h2');

  it('matches any node when there are no constraints', () => {
    assert.equal(matchesConstraints(east, {}), true);
    assert.equal(matchesConstraints(bare, {}), true);
  });

  it('matches node.name exactly', () => {
    assert.equal(matchesConstraints(east, { 'node.name': 'h1' }), true);
    assert.equal(matchesConstraints(east, { 'node.name': 'h11' }), false);
    assert.equal(matchesConstraints(bare, { 'node.name': 'h1' }), false);
  });

  it('matches node.labels.<label>, including labels with dots', () => {
    assert.equal(matchesConstraints(east, { 'node.labels.zone': 'east' }), true);
    assert.equal(matchesConstraints(east, { 'node.labels.zone': 'west' }), false);
    assert.equal(matchesConstraints(east, { 'node.labels.disk.type': 'ssd' }), true);
    assert.equal(matchesConstraints(bare, { 'node.labels.zone': 'east' }), false);
  });

  it('negates with !x, which a node without the label satisfies', () => {
    assert.equal(matchesConstraints(east, { 'node.labels.zone': '!east' }), false);
    assert.equal(matchesConstraints(east, { 'node.labels.zone': '!west' }), true);
    assert.equal(matchesConstraints(bare, { 'node.labels.zone': '!east' }), true);
    assert.equal(matchesConstraints(east, { 'node.name': '!h1' }), false);
    assert.equal(matchesConstraints(bare, { 'node.name': '!h1' }), true);
  });

  it('requires every constraint', () => {
    assert.equal(matchesConstraints(east, { 'node.name': 'h1', 'node.labels.zone': 'east' }), true);
    assert.equal(matchesConstraints(east, { 'node.name': 'h1', 'node.labels.zone': 'west' }), false);
  });

  it('never matches an unknown key, negated or not', () => {
    assert.equal(matchesConstraints(east, { 'node.role': 'manager' }), false);
    assert.equal(matchesConstraints(east, { 'node.role': '!manager' }), false);
    assert.equal(matchesConstraints(east, { zone: 'east' }), false);
    assert.equal(matchesConstraints(east, { 'node.labels': 'east' }), false);
  });
});
