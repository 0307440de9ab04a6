package io.kvstream.cli;

import io.kvstream.generate.ContinuousBatcher;
import io.kvstream.generate.Engine;
import io.kvstream.generate.FinishReason;
import io.kvstream.generate.GenerationRequest;
import io.kvstream.generate.Prompt;
import io.kvstream.generate.TokenListener;
import io.kvstream.sampling.SamplingParams;
import io.kvstream.tokenizer.BpeTokenizer;
import io.kvstream.tokenizer.ChatMessage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import javax.annotation.Nullable;

import java.io.PrintStream;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code kvstream generate}: one prompt, streamed to stdout. */
@Command(
        name = "generate",
        mixinStandardHelpOptions = true,
        description = "Generate a reply to a prompt and stream it to stdout; timings go to stderr.")
public final class GenerateCommand implements Callable<Integer> {

    @Mixin ModelOptions modelOptions;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "the user's message")
    String prompt;

    @Option(names = "--raw", description = "feed the prompt as it is, without the chat template")
    boolean raw;

    @Option(names = "--max-new", paramLabel = "N", description = "most tokens to generate (default: ${DEFAULT-VALUE})")
    int maxNew = 128;

    @Option(names = "--temperature", paramLabel = "T", description = "0 for greedy (default: ${DEFAULT-VALUE})")
    float temperature = 0f;

    @Option(names = "--top-k", paramLabel = "K", description = "0 for no limit (default: ${DEFAULT-VALUE})")
    int topK = 0;

    @Option(names = "--top-p", paramLabel = "P", description = "nucleus sampling (default: ${DEFAULT-VALUE})")
    float topP = 1f;

    @Option(names = "--repetition-penalty", paramLabel = "R", description = "(default: ${DEFAULT-VALUE})")
    float repetitionPenalty = 1f;

    @Option(names = "--seed", paramLabel = "S", description = "sampling seed; the same seed replays the same tokens (default: ${DEFAULT-VALUE})")
    long seed = 42;

    @Override
    public Integer call() throws Exception {
        SamplingParams sampling = new SamplingParams(temperature, topK, topP, repetitionPenalty, seed);
        try (Engine engine = modelOptions.open()) {
            String text = prompt;
            if (!raw && engine.chatTemplate() != null) {
                text = engine.chatTemplate().render(List.of(ChatMessage.user(prompt)), true);
            }
            Prompt input = new Prompt();
            engine.prompts(0f).appendText(input, text);
            BpeTokenizer.StreamingDecoder decoder = engine.tokenizer().newStreamingDecoder();
            PrintStream out = System.out;
            long start = System.nanoTime();
            long[] firstToken = new long[1];
            FinishReason[] finish = new FinishReason[1];
            String[] failure = new String[1];
            ContinuousBatcher batcher = new ContinuousBatcher(engine.backend(), 1, 512, 512);
            GenerationRequest request = new GenerationRequest(
                    "generate", input, engine.newFullCache(), maxNew, engine.stopTokens(), sampling,
                    new TokenListener() {
                        @Override
                        public void onToken(GenerationRequest r, int token, int index) {
                            if (index == 0) {
                                firstToken[0] = System.nanoTime();
                            }
                            out.print(decoder.feed(token));
                            out.flush();
                        }

                        @Override
                        public void onFinish(GenerationRequest r, FinishReason reason, @Nullable String error) {
                            finish[0] = reason;
                            failure[0] = error;
                        }
                    });
            batcher.submit(request);
            batcher.runToCompletion();
            out.println(decoder.flush());
            if (failure[0] != null) {
                System.err.println("generate: " + failure[0]);
                return 1;
            }
            long end = System.nanoTime();
            int generated = request.generatedCount();
            double prefillS = ((firstToken[0] == 0 ? end : firstToken[0]) - start) / 1e9;
            double decodeS = (end - (firstToken[0] == 0 ? end : firstToken[0])) / 1e9;
            System.err.printf(
                    "[%d prompt tokens in %.3f s (%.1f tokens/s), %d generated in %.3f s (%.1f tokens/s), finish: %s]%n",
                    input.length(), prefillS, input.length() / prefillS, generated, decodeS,
                    generated > 1 ? (generated - 1) / decodeS : 0.0, finish[0].name().toLowerCase());
            return 0;
        }
    }
}
