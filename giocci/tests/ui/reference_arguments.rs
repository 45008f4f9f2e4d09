#[giocci::remote]
pub mod text {
    pub fn shout(word: &str) -> String {
        word.to_uppercase()
    }

    pub fn first(words: Vec<String>) -> &'static str {
        let _ = words;
        "first"
    }
}

fn main() {}
