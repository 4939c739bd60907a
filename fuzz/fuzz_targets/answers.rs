//! Status, result, cancel and error answers, as any server might send
//! them: never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    const STATUSES: [u16; 12] = [200, 201, 400, 401, 402, 403, 404, 422, 429, 500, 503, 599];
    let Some((first, body)) = data.split_first() else {
        return;
    };
    runcomfy::fuzzing::decode_answer(STATUSES[usize::from(*first) % STATUSES.len()], body);
});
