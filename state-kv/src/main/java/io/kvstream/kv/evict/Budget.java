package io.kvstream.kv.evict;

import static org.apache.flink.util.Preconditions.checkArgument;

/** A token budget: an absolute count, or a fraction of some total. */
public record Budget(int tokens, double fraction) {

    public Budget {
        checkArgument(
                (tokens > 0 && fraction == 0) || (tokens == 0 && fraction > 0 && fraction <= 1),
                "a budget is a positive count or a fraction in (0, 1]: tokens=%s fraction=%s",
                tokens, fraction);
    }

    public static Budget parse(String text) {
        try {
            if (text.contains(".")) {
                return new Budget(0, Double.parseDouble(text));
            }
            return new Budget(Integer.parseInt(text), 0);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("budget '" + text + "' is neither a count nor a fraction", e);
        }
    }

    public int of(int total) {
        return tokens > 0 ? tokens : (int) Math.ceil(fraction * total);
    }

    @Override
    public String toString() {
        return tokens > 0 ? Integer.toString(tokens) : Double.toString(fraction);
    }
}
