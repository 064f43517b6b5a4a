// The Generate Video form's request, and which field a server error names.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { buildJobRequest, fieldForPath, sortFieldErrors } from '../../gateway/web/public/generate-form.js';

describe('the job request of the form', () => {
  test('every field goes where the API takes it', () => {
    const request = buildJobRequest({
      topic: '  How bees dance ',
      audience: 'children',
      goal: 'Learn the waggle dance',
      tone: 'Playful',
      duration: '45',
      aspect: 'Vertical9x16',
      resolution: '720p',
      voiceRate: '1.2',
      quality: '90',
    });
    assert.deepEqual(request, {
      brief: { topic: 'How bees dance', audience: 'children', goal: 'Learn the waggle dance', tone: 'Playful', aspect: 'Vertical9x16' },
      planSpec: { targetDuration: 45 },
      voiceSpec: { rate: 1.2 },
      renderSpec: { res: '720p', qualityLevel: 90 },
    });
  });

  test('empty fields are left out for the server defaults; a non-number goes as typed for the server to judge', () => {
    assert.deepEqual(buildJobRequest({ topic: 'Tides', audience: ' ', duration: '' }), { brief: { topic: 'Tides' } });
    assert.deepEqual(buildJobRequest({ topic: 'Tides', duration: '01:30' }).planSpec, { targetDuration: '01:30' });
  });
});

describe('server errors and the fields they name', () => {
  test('each request path maps to its field', () => {
    assert.equal(fieldForPath('brief.topic'), 'topic');
    assert.equal(fieldForPath('planSpec.targetDuration'), 'duration');
    assert.equal(fieldForPath('voiceSpec.rate'), 'voiceRate');
    assert.equal(fieldForPath('renderSpec.qualityLevel'), 'quality');
    assert.equal(fieldForPath('renderSpec.res.width'), 'resolution');
    assert.equal(fieldForPath('renderSpec.resX'), null);
    assert.equal(fieldForPath('body'), null);
  });

  test('errors of no field are kept apart, with their path', () => {
    const sorted = sortFieldErrors([
      { field: 'brief.topic', message: 'must not be empty' },
      { field: 'body', message: 'invalid JSON' },
      { field: 'brief.topic', message: 'is required' },
    ]);
    assert.deepEqual([...sorted.byField], [['topic', ['must not be empty', 'is required']]]);
    assert.deepEqual(sorted.other, ['body: invalid JSON']);
  });
});
