/*  mp4_probe — prints what libavformat finds in a video file, as one JSON
    object, and decodes every video frame to prove the stream is whole:
    {"duration":12.5,"streams":[{"type":"video","codec":"h264","width":1920,
    "height":1080,"fps":30,"frames":375},{"type":"audio","codec":"aac",
    "sampleRate":48000,"channels":2}],"faststart":true}
    Integration tests use it to check the videos the real binaries make. */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <stdio.h>
#include <string.h>

/*  True when the "moov" box comes before "mdat": playable while downloading. */
static int
s_faststart (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return 0;
    unsigned char header[8];
    int moov_first = 0;
    while (fread (header, 1, 8, f) == 8) {
        unsigned long size = ((unsigned long) header[0] << 24)
                             | ((unsigned long) header[1] << 16)
                             | ((unsigned long) header[2] << 8) | header[3];
        if (memcmp (header + 4, "moov", 4) == 0) {
            moov_first = 1;
            break;
        }
        if (memcmp (header + 4, "mdat", 4) == 0 || size < 8)
            break;
        if (fseek (f, (long) size - 8, SEEK_CUR) != 0)
            break;
    }
    fclose (f);
    return moov_first;
}

/*  Decodes every packet of the video stream; returns the frame count, or
    -1 when the decoder refuses something. */
static long
s_decode_video (AVFormatContext *format, int index)
{
    const AVCodec *codec = avcodec_find_decoder (format->streams[index]->codecpar->codec_id);
    AVCodecContext *ctx = codec ? avcodec_alloc_context3 (codec) : NULL;
    AVPacket *packet = av_packet_alloc ();
    AVFrame *frame = av_frame_alloc ();
    long frames = -1;
    if (!ctx || !packet || !frame
        || avcodec_parameters_to_context (ctx, format->streams[index]->codecpar) < 0
        || avcodec_open2 (ctx, codec, NULL) < 0)
        goto cleanup;
    frames = 0;
    while (av_read_frame (format, packet) >= 0) {
        if (packet->stream_index == index && avcodec_send_packet (ctx, packet) < 0)
            frames = -1;
        av_packet_unref (packet);
        while (frames >= 0 && avcodec_receive_frame (ctx, frame) == 0)
            frames++;
        if (frames < 0)
            goto cleanup;
    }
    avcodec_send_packet (ctx, NULL);
    while (avcodec_receive_frame (ctx, frame) == 0)
        frames++;
cleanup:
    av_frame_free (&frame);
    av_packet_free (&packet);
    avcodec_free_context (&ctx);
    return frames;
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    av_log_set_level (AV_LOG_ERROR);
    AVFormatContext *format = NULL;
    if (avformat_open_input (&format, argv[1], NULL, NULL) < 0
        || avformat_find_stream_info (format, NULL) < 0) {
        printf ("{\"error\":\"cannot open\"}\n");
        return 1;
    }
    int video = -1;
    printf ("{\"duration\":%.3f,\"faststart\":%s,\"streams\":[",
            format->duration > 0 ? (double) format->duration / AV_TIME_BASE : 0.0,
            s_faststart (argv[1]) ? "true" : "false");
    for (unsigned i = 0; i < format->nb_streams; i++) {
        const AVCodecParameters *par = format->streams[i]->codecpar;
        const char *name = avcodec_get_name (par->codec_id);
        if (i > 0)
            printf (",");
        if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
            AVRational rate = format->streams[i]->avg_frame_rate;
            printf ("{\"type\":\"video\",\"codec\":\"%s\",\"width\":%d,"
                    "\"height\":%d,\"fps\":%.3f",
                    name, par->width, par->height,
                    rate.den ? (double) rate.num / rate.den : 0.0);
            video = (int) i;
            printf ("%s", "}");
        }
        else if (par->codec_type == AVMEDIA_TYPE_AUDIO)
            printf ("{\"type\":\"audio\",\"codec\":\"%s\",\"sampleRate\":%d,"
                    "\"channels\":%d}",
                    name, par->sample_rate, par->ch_layout.nb_channels);
        else
            printf ("{\"type\":\"other\",\"codec\":\"%s\"}", name);
    }
    long frames = video >= 0 ? s_decode_video (format, video) : 0;
    printf ("],\"videoFrames\":%ld}\n", frames);
    avformat_close_input (&format);
    return frames < 0 ? 1 : 0;
}
