// The floor: the same route in the same runtime, doing nothing but read the
// body and answer a constant. What any Worker pays before doing real work.
export default {
  async fetch(request) {
    await request.text();
    return new Response('{"result":"floor"}', { headers: { 'Content-Type': 'application/json' } });
  },
};
